"""`benchmark compare`: score the split with each checkpoint, take the report labels, join on
the node id against the gold label, and write the page (the one call the CLI makes)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ynet.checkpoint import CheckpointError, load_checkpoint
from ynet.data import read_manifest
from ynet.duplicates import find_duplicates
from ynet.limits import DUPLICATE_THRESHOLD
from ynet.predict import predict
from ynet.runs import read_run

from ..core.errors import InputError
from ..core.inputs import check_input_file
from ..core.labels import REPORT_CALLS, report_call
from ..core.outputs import FolderOutput, unescape_frame
from ..core.provenance import file_sha256
from ..core.tables import ID_COLUMN_NAMES, choose_column, read_table, sheet_names
from ..mining.batch import classify_frame
from ..mining.classify import ReportClassifier
from ..mining.overrides import apply_to_calls, read_overrides
from ..review.page import build_review, render_review
from ..review.source import ClassifyOutput, read_classify_output
from ..stats.mrmc import read_reader_study
from .analysis import (
    DUPLICATE_GROUPS,
    PATIENTS,
    PATIENTS_OR_DUPLICATES,
    REPORTS_NAME,
    ClusterName,
    Comparison,
    Flow,
    IndexTest,
    calls_from_scores,
    choose_threshold,
    choose_unit,
    plural,
    reference_name,
)
from .page import shown_path, write_outputs

log = logging.getLogger(__name__)

VARIANT_NAMES = {"seg+cls": "Y-Net (segmentation + classification)", "cls-only": "Y-Net (classification only)"}


@dataclass
class CompareOptions:
    models: list[str] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)
    reports: str | None = None
    split: str = "test"
    indeterminate: str = "positive"
    threshold: str = "youden-oof"
    max_missing: int = 0
    exclude_labels: tuple[str, ...] = ()
    device: str = "auto"
    seed: int = 0
    title: str = "Y-Net versus the original ultrasound reports"
    synthetic: bool = False
    unit_name: str = "node"  # what one manifest row is: node, lesion, nodule, … (captions, flow, tables)
    unit: str | None = None  # "node" (independent), "patient" (clustered) or None: clustered when patient_id repeats
    report_overrides: str | None = None  # reviewer corrections CSV (`reportmine review`)
    readers: str | None = None  # reader-study readings (long format): adds the "Reader study" section
    duplicate_threshold: float = DUPLICATE_THRESHOLD  # near-duplicate images are one cluster (ynet.duplicates)
    reference: str | None = None  # the reference standard's name; None: the manifest's label_source, or pathology


def named_path(spec: str | Path, option: str = "--model") -> tuple[str | None, Path]:
    """``NAME=PATH`` (the index test's name chosen by the user) or a plain ``PATH`` (named after
    what it is). A path that exists is taken whole, even when it holds an "=". """
    text = str(spec)
    if "=" in text and not Path(text).exists():
        name, path = text.split("=", 1)
        if not name.strip() or not path.strip():
            raise InputError(f"{option} {text!r}: give NAME=PATH, with a name before '=' and a file after it")
        return " ".join(name.split()), Path(path.strip())
    return None, Path(text)


def _paths(specs: list[str], option: str) -> list[Path]:
    return [named_path(spec, option)[1] for spec in specs]


def _split_ids(manifest, options: CompareOptions) -> tuple[list[str], str]:
    nodes = manifest.nodes
    given = {n.split for n in nodes if n.split}
    if given:
        ids = [n.id for n in nodes if n.split == options.split]
        return ids, f"the manifest's split column ({options.split})"

    for model in _paths(options.models, "--model"):
        run = read_run(model)
        ids = run.ids(options.split)
        if ids is not None:
            return ids, f"{options.split} part of the training run's splits ({run.splits_path})"
    if options.split == "all":
        return [n.id for n in nodes], "all manifest rows"
    raise InputError("cannot tell which nodes are in the split: the manifest has no split column and no "
                     "checkpoint has a run folder with splits.csv (use --split all to compare on every row)")


def _reports(options: CompareOptions, manifest, ids: list[str]) -> tuple[IndexTest | None, dict, list | None]:
    """The reports index test, the report texts by id, and (when we classified them) the
    dictionary entries each report matched, for Table 1."""
    if options.reports:
        path = Path(options.reports)
        # a .xlsx classify output holds its results on the "results" sheet; any other table, its first
        sheets = sheet_names(path)
        frame = unescape_frame(read_table(path, sheet="results" if "results" in sheets else None))
        id_col = choose_column(path, list(frame.columns), None, ID_COLUMN_NAMES, "id")
        if id_col is None:
            raise InputError(f"{path}: no id column (ln_id / id / report_id) to join the reports on")
        if "label" not in frame.columns:
            raise InputError(f"{path}: no label column (a `reportmine classify` output has one)")
        column = "label_3class" if "label_3class" in frame.columns else "label"
        calls = frame[column].map(report_call)
        bad = calls.isna()
        if bad.any():
            row = bad[bad].index[0]
            raise InputError(f"{path}: row {row}, column {column}: {frame.at[row, column]!r} is not a report label "
                             "(malignant/benign/indeterminate or 1/0)")
        test = IndexTest("reports", REPORTS_NAME, "reports", frame[id_col].astype(str).tolist(),
                         calls.astype(int).to_numpy(), source=str(path),
                         sha256=file_sha256(path))
        texts = dict(zip(frame[id_col].astype(str), frame["text"].astype(str))) if "text" in frame.columns else {}
        return test, texts, _evidence_of(path, ids, sheets)
    texts = {n.id: n.meta.get("report_text", "") for n in manifest.nodes}
    if not any(str(t).strip() for t in texts.values()):
        return None, {}, None

    by_id = {n.id: n for n in manifest.nodes}
    reports = pd.DataFrame({"ln_id": list(ids), "report_text": [texts[i] for i in ids]})
    for column in ("level", "side"):  # the target node, when the manifest names it
        if any(column in by_id[i].meta for i in ids):
            reports[column] = [by_id[i].meta.get(column) for i in ids]
    results, evidence = classify_frame(reports, text_col="report_text", id_col="ln_id")
    calls = results["label_3class"].map(REPORT_CALLS).tolist()
    node_evidence = evidence[evidence["scope"] == "node"]
    entries = {i: [f"{e}\x00{c}\x00{d}" for e, c, d in zip(g["entry"], g["category"], g["dictionary_line"])]
               for i, g in node_evidence.groupby(node_evidence["id"].astype(str), sort=False)}
    used = [entries.get(str(i), []) for i in ids]
    test = IndexTest("reports", REPORTS_NAME, "reports", list(ids), np.array(calls),
                     source=f"{manifest.path} (report_text, classified by reportmine)", sha256=manifest.sha256)
    return test, {i: texts[i] for i in ids}, used


def _evidence_of(path: Path, ids: list[str], sheets: list[str]) -> list | None:
    """Node-scope dictionary entries per report from a `reportmine classify` output's evidence
    (the xlsx "evidence" sheet, ``sheets`` being the workbook's, or the CSV's sibling
    .evidence.csv), for Table 1."""
    if path.suffix.lower() == ".xlsx":
        if "evidence" not in sheets:
            return None
        ev = unescape_frame(read_table(path, sheet="evidence"))
    elif path.with_suffix(".evidence.csv").exists():
        ev = unescape_frame(read_table(path.with_suffix(".evidence.csv")))
    else:
        return None
    if not {"id", "entry", "category", "dictionary_line", "scope"} <= set(ev.columns):
        return None
    ev = ev[ev["scope"] == "node"]
    grouped = {i: [f"{e}\x00{c}\x00{d}" for e, c, d in zip(g["entry"], g["category"], g["dictionary_line"])]
               for i, g in ev.groupby("id")}
    return [grouped.get(i, []) for i in ids]


def _apply_report_overrides(options: CompareOptions, reports: IndexTest | None, ids: list[str],
                            nodes: list[str]) -> dict | None:
    """Replace report calls by a reviewer's corrections (--report-overrides); the run record's block."""
    if not options.report_overrides:
        return None
    if reports is None:
        raise InputError(f"{options.report_overrides}: --report-overrides needs report labels (--reports or "
                         "report_text in the manifest)")

    names = {call: label for label, call in REPORT_CALLS.items()}
    labels, record = apply_to_calls(read_overrides(options.report_overrides), list(reports.ids),
                                    [names[int(c)] for c in reports.calls], reports.source, known_ids=nodes,
                                    restrict_to=ids)
    reports.calls = np.array([REPORT_CALLS[label] for label in labels])
    reports.source += f" with {record['labels_overridden']} label(s) overridden by {options.report_overrides}"
    return record


def _write_review_page(options: CompareOptions, comparison: Comparison, provenance: dict, folder: Path) -> str | None:
    """review.html: the split's reports on a `reportmine review` page, gold = the reference standard."""

    ids = [str(i) for i in comparison.gold.index]
    gold_by_id = {str(i): "malignant" if g == 1 else "benign" for i, g in comparison.gold.items()}
    try:
        if options.reports:
            output = read_classify_output(options.reports)
            results = output.results[output.results["id"].astype(str).str.strip().isin(set(ids))]
            source, evidence = Path(options.reports), output.evidence
        else:
            texts = provenance.get("report_texts") or {}
            if not any(str(t).strip() for t in texts.values()):
                return None
            meta = comparison.meta
            frame = pd.DataFrame({"id": ids, "report_text": [str(texts.get(i, "")) for i in ids]},
                                 index=range(2, 2 + len(ids)))
            for column in ("level", "side"):
                if meta is not None and column in meta.columns:
                    frame[column] = [meta.at[i, column] if i in meta.index else None for i in ids]
            results, evidence = classify_frame(frame, text_col="report_text", id_col="id")
            results = results.fillna("").astype(str)
            evidence = evidence.set_axis(range(2, 2 + len(evidence))).fillna("")
            source = Path(provenance["manifest"])
    except InputError as exc:
        log.warning("no review page: %s", exc)
        return None
    gold = {row: gold_by_id[str(i).strip()] for row, i in results["id"].items() if str(i).strip() in gold_by_id}
    output = ClassifyOutput(source, results, evidence, source, {}, comparison.reference, gold)
    page = build_review(output, classifier=None if options.reports else _default_classifier())
    # the page names its source relative to the output folder, not by this machine's absolute path
    page = replace(page, source=shown_path(source, provenance.get("output_folder")))
    (folder / "review.html").write_text(render_review(page, title=f"Reports of the split, against "
                                                      f"{comparison.reference}: {source.name}"), encoding="utf-8")
    return "review.html"


def _default_classifier():

    return ReportClassifier()


def _oof_for(model: Path) -> pd.DataFrame | None:

    return read_run(model).oof


def _trained_on(path: Path, name: str, ids: list[str], unit_name: str) -> str | None:
    """A note (not a refusal) when the nodes scored include some the checkpoint's run trained on."""
    trained = set(read_run(path).ids("train") or ())
    seen = trained & set(ids)
    if not seen:
        return None
    units = plural(unit_name)
    return (f"{name} was trained on {len(seen)} of the {len(ids)} {units} scored here (the training part "
            f"of its run): its accuracy on them is optimistic. Scoring the {units} it never saw (the "
            "test part) gives the honest estimate.")


def _unique_names(tests: list[IndexTest]) -> None:
    _refuse_repeated([t.name for t in tests])


def _refuse_repeated(names: list[str]) -> None:
    twice = pd.Series(names)[pd.Series(names).duplicated()].tolist()
    if twice:
        raise InputError(f"two index tests are named {twice[0]!r}: name each with --model NAME=PATH "
                         "(or --predictions NAME=PATH)")


def _model_tests(options: CompareOptions, manifest, ids: list[str], gold: pd.Series, work: Path,
                 notes: list[str] | None = None) -> list[IndexTest]:
    tests = []
    for k, model in enumerate(options.models):
        chosen, path = named_path(model, "--model")
        state = load_checkpoint(path)
        if state.get("manifest_sha256") and state["manifest_sha256"] != manifest.sha256:
            log.warning("%s was trained on another manifest version", path)
        config = state.get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{path}: checkpoint without a model configuration")
        variant = config.get("variant", "seg+cls")
        name = chosen or VARIANT_NAMES.get(variant, f"Y-Net ({variant})")
        if chosen is None and any(t.name == name for t in tests):  # two runs of one variant: say which
            name = f"{name} [{path.parent.parent.name}/{path.parent.name}]"
        preds = predict([path], manifest=manifest.path, ids=ids, masks_dir=work / "masks" / f"model{k + 1}",
                        device=options.device, exclude_labels=options.exclude_labels)
        scores = preds["prob_malignant"].to_numpy()
        labels = preds["ln_id"].map(gold).to_numpy()
        threshold, rule = choose_threshold(options.threshold, labels, scores, _oof_for(path))
        tests.append(IndexTest(f"model{k + 1}", name, "model", preds["ln_id"].tolist(),
                               calls_from_scores(scores, threshold), scores, threshold, rule, str(path),
                               file_sha256(path), preds["dice"].to_numpy(), preds["mask_file"].fillna("").tolist()))
        note = _trained_on(path, name, ids, options.unit_name)
        if note and notes is not None:
            log.warning(note)
            notes.append(note)
    for k, pred_path in enumerate(options.predictions):
        chosen, path = named_path(pred_path, "--predictions")
        check_input_file(path, what="predictions file")  # a pipe or /dev/zero: one line, not a hang
        preds = pd.read_csv(path, dtype={"ln_id": str})
        if "ln_id" not in preds.columns or "prob_malignant" not in preds.columns:
            raise InputError(f"{path}: needs ln_id and prob_malignant columns (a `ynet predict` output)")
        unknown = sorted(set(preds["ln_id"]) - set(gold.index))
        if len(unknown) == len(preds):
            raise InputError(f"{path}: none of its ids are in this manifest's {options.split} split "
                             "(predictions for another manifest?)")
        scores = _probabilities(path, preds["prob_malignant"])
        labels = preds["ln_id"].map(gold).to_numpy()
        known = ~pd.isna(labels)
        threshold, rule = choose_threshold(options.threshold if options.threshold != "youden-oof" else "0.5",
                                           labels[known].astype(int), scores[known], None)
        if options.threshold == "youden-oof":
            rule += " (youden-oof needs a checkpoint's run folder; precomputed predictions use 0.5)"
        tests.append(IndexTest(f"pred{k + 1}", chosen or f"Predictions: {path.stem}", "predictions", preds["ln_id"].tolist(),
                               calls_from_scores(scores, threshold), scores, threshold, rule, str(path), file_sha256(path),
                               preds["dice"].to_numpy() if "dice" in preds.columns else None,
                               preds.get("mask_file", pd.Series([""] * len(preds))).fillna("").tolist()))
    return tests


def _probabilities(path: Path, column: pd.Series) -> np.ndarray:
    """The column as probabilities, or one line naming the first row that is not one in [0, 1]
    (a missing or NaN score is an error, never a class)."""
    scores = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(scores) & (scores >= 0) & (scores <= 1)))
    if bad.size:
        i = int(bad[0])
        raw = column.iloc[i]
        what = "not a number" if not np.isfinite(scores[i]) else "not a probability in [0, 1]"
        raise InputError(f"{path}: row {i + 2}, column {column.name}: {raw!r} is {what}")
    return scores


def _flow(manifest, ids, tests: list[IndexTest], split_desc: str, max_missing: int) -> Flow:
    wanted = set(ids)
    missing, extra, dups, with_result = {}, {}, {}, {}
    for t in tests:
        seen = pd.Series(t.ids)
        dups[t.name] = sorted(seen[seen.duplicated()].unique().tolist())
        present = set(t.ids)
        missing[t.name] = sorted(wanted - present)
        extra[t.name] = sorted(present - wanted)
        with_result[t.name] = len(wanted & present)
    for t in tests:
        if dups[t.name]:
            raise InputError(f"{t.source}: duplicate id(s) {', '.join(dups[t.name][:5])}")
        if not with_result[t.name] and wanted:
            theirs = ", ".join(sorted(set(t.ids))[:3]) or "none"
            raise InputError(f"{t.source}: no {'report' if t.kind == 'reports' else 'result'} id matches the "
                             f"cohort's ids in the split (its ids: {theirs}; the manifest's: "
                             f"{', '.join(sorted(wanted)[:3])}): is it from this cohort?")
        if len(missing[t.name]) > max_missing:
            raise InputError(f"{t.source}: {len(missing[t.name])} node(s) of the split have no result "
                             f"(e.g. {', '.join(missing[t.name][:3])}); allowed: --max-missing {max_missing}")
    reports = next((t for t in tests if t.kind == "reports"), None)
    indeterminate = 0
    if reports is not None:
        calls = dict(zip(reports.ids, reports.calls))
        indeterminate = sum(1 for i in ids if calls.get(i) == -1)
    return Flow(len(manifest.nodes) + manifest.excluded, manifest.excluded, len(ids), split_desc, with_result,
                missing, extra, dups, indeterminate)


def _clusters(manifest, ids: list[str], threshold: float, notes: list[str]) -> tuple[pd.Series, ClusterName]:
    """The cluster of every scored node: its patient (its own id where none is given), joined
    with near-duplicate images (:mod:`ynet.duplicates`), and what one cluster is called: a
    patient; a patient or near-duplicate group where duplicates joined two patients' (or
    rows') images in the scored split; a group of near-duplicate images where no scored node
    has a patient id. A note says what the duplicates did, and warns when a scored image has a
    near duplicate outside the scored split (a leak)."""
    by_patient = {n.id: n.patient_id or f"\x00{n.id}" for n in manifest.nodes}
    report = find_duplicates(replace(manifest, nodes=tuple(replace(n, group=by_patient[n.id])
                                                             for n in manifest.nodes)), threshold)
    scored = set(ids)
    inside = [p for p in report.pairs if p.a in scored and p.b in scored]
    across = sorted({p.a if p.a in scored else p.b for p in report.pairs if (p.a in scored) != (p.b in scored)})
    if inside:
        notes.append(f"{len(inside)} pair(s) of near-duplicate images among the scored nodes share a cluster "
                     f"(thumbnail correlation > {threshold:g}).")
    if across:
        notes.append(f"{len(across)} scored image(s) have a near duplicate outside the scored split "
                     f"(e.g. {', '.join(across[:3])}): the model may have trained on the same lesion.")
    clusters = pd.Series(report.groups)[ids]
    if not any(n.patient_id for n in manifest.nodes if n.id in scored):
        return clusters, DUPLICATE_GROUPS
    joined = any(by_patient[p.a] != by_patient[p.b] for p in inside)
    return clusters, PATIENTS_OR_DUPLICATES if joined else PATIENTS


def _reference(manifest, ids: list[str], given: str | None) -> str:
    """The reference standard's name: ``given`` (--reference), else the scored rows' common
    ``label_source`` (tirads → "TI-RADS category"), else pathology."""
    if given is not None and given.strip():
        return " ".join(given.split())
    scored = set(ids)
    names = {reference_name(n.meta.get("label_source")) for n in manifest.nodes if n.id in scored}
    return names.pop() if len(names) == 1 else reference_name(None)


def build_comparison(manifest_path: str | Path, options: CompareOptions, work: Path) -> tuple[Comparison, dict]:
    """Everything the page shows, plus provenance and the report texts (for error examples)."""

    manifest = read_manifest(manifest_path, exclude_labels=options.exclude_labels)
    ids, split_desc = _split_ids(manifest, options)
    if not ids:
        raise InputError(f"{manifest.path}: no rows in split {options.split!r}")
    gold = pd.Series({n.id: n.label for n in manifest.nodes})[ids]
    if gold.nunique() < 2:
        raise InputError(f"{manifest.path}: the {options.split} split holds one class only "
                         f"({'malignant' if gold.iloc[0] == 1 else 'benign'}); accuracy needs both")
    notes: list[str] = []
    # names the user chose are checked before any network runs (the defaults, after)
    _refuse_repeated([name for spec, option in [*((m, "--model") for m in options.models),
                                                *((p, "--predictions") for p in options.predictions)]
                      if (name := named_path(spec, option)[0]) is not None])
    tests = _model_tests(options, manifest, ids, gold, work, notes)
    reports, texts, matches = _reports(options, manifest, ids)
    overridden = _apply_report_overrides(options, reports, ids, [n.id for n in manifest.nodes])
    if reports is not None:
        tests.append(reports)
    if not tests:
        raise InputError("nothing to compare: give --model, --predictions or reports")
    _unique_names(tests)
    flow = _flow(manifest, ids, tests, split_desc, options.max_missing)
    meta_rows = {n.id: n.meta for n in manifest.nodes if n.id in set(ids)}
    meta = pd.DataFrame.from_dict(meta_rows, orient="index").reindex(ids)
    clusters, cluster_name = _clusters(manifest, ids, options.duplicate_threshold, notes)
    try:
        clustered, unit_reason = choose_unit(options.unit, clusters, plural(options.unit_name), cluster_name)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    comparison = Comparison(gold, tests, options.indeterminate, flow, meta, clusters=clusters, clustered=clustered,
                            unit_name=options.unit_name, unit_reason=unit_reason, cluster_name=cluster_name,
                            reference=_reference(manifest, ids, options.reference))
    provenance = {"manifest": str(manifest.path), "manifest_sha256": manifest.sha256,
                  "split": split_desc, "report_texts": texts, "report_matches": matches,
                  "images": {n.id: str(n.image) for n in manifest.nodes if n.id in set(ids)},
                  "ref_masks": {n.id: [str(m) for m in n.masks] for n in manifest.nodes if n.id in set(ids)},
                  "reports_present": reports is not None, "report_overrides": overridden, "notes": notes}
    return comparison, provenance


def compare(manifest: str | Path, out: str | Path, options: CompareOptions, *, force: bool = False,
            command: str = "benchmark compare") -> Path:
    """Build the comparison and write OUT/index.html (+ tables.xlsx, CSVs, figures).

    OUT is a :class:`~reportmine.core.outputs.FolderOutput`: new or empty, or an earlier
    output of ``command`` (replaced only with ``force``); a folder holding other files, or
    holding any input (the manifest, its images and masks, checkpoints, predictions,
    reports), is refused before anything is computed. The page appears whole or not at all.
    """
    listed = read_manifest(manifest, exclude_labels=options.exclude_labels)
    inputs = [Path(manifest), *_paths(options.models, "--model"), *_paths(options.predictions, "--predictions")]
    if options.reports:
        inputs += [Path(options.reports), Path(options.reports).with_suffix(".evidence.csv")]
    if options.report_overrides:
        inputs.append(Path(options.report_overrides))
    if options.readers:
        inputs.append(Path(options.readers))
        read_reader_study(options.readers)  # a bad readings file is refused before any inference
    for node in listed.nodes:
        inputs += [node.image, *node.masks]
    folder = FolderOutput(out, command, force=force, inputs=inputs)
    work = Path(tempfile.mkdtemp(prefix="reportmine-compare-"))
    try:
        with folder as staged:
            comparison, provenance = build_comparison(manifest, options, work)
            provenance["output_folder"] = str(folder.path.resolve())  # the page shows paths relative to it
            provenance["review_page"] = _write_review_page(options, comparison, provenance, staged)
            write_outputs(comparison, provenance, options, staged, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Path(out) / "index.html"
