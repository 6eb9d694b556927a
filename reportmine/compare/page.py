"""Write the comparison: index.html (one self-contained file), tables.xlsx, tables/*.csv,
figures/*.png and run.json. The HTML comes from a jinja2 template with autoescaping, so
report text shown on the page can never inject markup."""

from __future__ import annotations

import base64
import json
import math
import os
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ..core.outputs import escape_cell, json_safe, write_csv
from ..core.provenance import versions
from ..stats import cluster_bootstrap, roc_curve, summarize_overlap, weighted_median
from . import figures
from .analysis import PATIENTS, ClusterName, Comparison, plural
from .readers import reader_section

CI_FOOTNOTE = ("95 % confidence intervals: Clopper–Pearson (exact) for sensitivity, specificity and accuracy; "
               "standard logit interval (Mercaldo et al. 2007) for PPV and NPV, Clopper–Pearson at 0 % or 100 %; "
               "log method (Simel, Samsa & Matchar 1991) for likelihood ratios; DeLong for the AUC.")
CLUSTERED_FOOTNOTE = ("95 % confidence intervals that account for several {units} per {group}: ratio estimators "
                      "(e.g. sensitivity = all true positives / all malignant {units}) with a cluster-robust "
                      "standard error (Taylor linearisation, {groups} as clusters, K/(K − 1) factor) and a logit-Wald "
                      "interval, Clopper–Pearson on the {unit} counts where the estimate is 0 % or 100 % "
                      "(marked *); Obuchowski (1997) for the AUC. The design effect is the clustered variance "
                      "over the binomial one.")
MEASURE_NAMES = {"sensitivity": "Sen", "specificity": "Spe", "accuracy": "Acc", "ppv": "PPV", "npv": "NPV"}
_ABSOLUTE = re.compile(r"(?<![\w.~])/[^\s(),;]+")


def _relative(path: Path, root: str | Path) -> str:
    """``path`` relative to ``root``; a path that shares nothing with it but the filesystem root
    (a temporary training folder, another disk) is shown by its last three parts only."""
    path, root = path.resolve(), Path(root).resolve()
    try:
        common = Path(os.path.commonpath([path, root]))
    except ValueError:  # another drive
        common = None
    if common is None or common == Path(common.anchor):
        return "…/" + "/".join(path.parts[1:][-3:])
    return Path(os.path.relpath(path, root)).as_posix()


def relative_text(text: str, root: str | Path | None) -> str:
    """``text`` with every absolute path that exists on this machine shown relative to ``root``
    (the output folder), so a page does not carry the absolute paths of the machine that made it."""
    if not text or root is None:
        return text

    def swap(match: re.Match) -> str:
        found = match.group(0)
        return _relative(Path(found), root) if Path(found).exists() else found
    return _ABSOLUTE.sub(swap, str(text))


def shown_source(text: str, manifest: str, root: str | Path | None) -> str:
    """An index test's source (a file path, or a description naming the manifest) for the page."""
    if root is None or not text:
        return text
    if Path(text).exists():
        return shown_path(text, root)
    if manifest and manifest in text:
        text = text.replace(manifest, shown_path(manifest, root))
    return relative_text(text, root)


def shown_path(path: str | Path, root: str | Path | None) -> str:
    """A file path relative to ``root`` (the output folder)."""
    return str(path) if root is None else _relative(Path(path), root)


def pct(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def num(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def _three(value) -> str:
    return num(value, 3)


def _defined(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def with_ci(estimate, low, high, show=num) -> str:
    """"estimate (low–high)"; an interval with an undefined bound is said in words, never as a
    dash inside the brackets (a zero cell leaves a likelihood ratio's bound undefined)."""
    if not _defined(estimate):
        return "not estimable"
    if not (_defined(low) and _defined(high)):
        return f"{show(estimate)} (CI not estimable)"
    return f"{show(estimate)} ({show(low)}–{show(high)})"


def pval(p: float) -> str:
    if p is None or math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table3(accuracy: list[dict]):
    rows, frame = [], []
    for r in accuracy:
        m, t, auc = r["metrics"], r["test"], r["auc"]
        cells = []
        for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
            p = getattr(m, key)
            cells.append({"key": key, "estimate": p.estimate, "low": p.ci_low, "high": p.ci_high,
                          "text": with_ci(p.estimate, p.ci_low, p.ci_high, pct),
                          "counts": f"{p.x}/{p.n}"})
        for key in ("lr_positive", "lr_negative"):
            q = getattr(m, key)
            cells.append({"key": key, "estimate": q.estimate, "low": q.ci_low, "high": q.ci_high,
                          "text": with_ci(q.estimate, q.ci_low, q.ci_high), "counts": ""})
        auc_cell = None
        if auc is not None:
            auc_cell = {"key": "auc", "estimate": auc.auc, "low": auc.ci_low, "high": auc.ci_high,
                        "text": with_ci(auc.auc, auc.ci_low, auc.ci_high, _three), "counts": ""}
        rows.append({"name": t.name, "cells": cells, "auc": auc_cell, "table": r["table"],
                     "threshold": t.threshold_rule, "notes": list(m.notes)})
        record = {"index test": t.name, "TP": r["table"].tp, "FP": r["table"].fp, "FN": r["table"].fn,
                  "TN": r["table"].tn}
        for c in cells + ([auc_cell] if auc_cell else []):
            record[c["key"]] = c["estimate"]
            record[c["key"] + "_ci_low"] = c["low"]
            record[c["key"] + "_ci_high"] = c["high"]
        record["cut-off"] = t.threshold_rule
        frame.append(record)
    return rows, pd.DataFrame(frame)


def _table3_clustered(accuracy: list[dict], groups: ClusterName = PATIENTS):
    """Table 3 with the clustered intervals (``groups`` names the clusters: patients, …); None
    when the analysis is per unit."""
    if not accuracy or accuracy[0]["clustered"] is None:
        return None, None
    rows, frame = [], []
    for r in accuracy:
        m, t, auc = r["clustered"], r["test"], r["clustered_auc"]
        cells = []
        for key in MEASURE_NAMES:
            p = getattr(m, key)
            cells.append({"key": key, "estimate": p.estimate, "low": p.ci_low, "high": p.ci_high,
                          "design_effect": p.design_effect, "se": p.se, "fallback": p.fallback,
                          "text": with_ci(p.estimate, p.ci_low, p.ci_high, pct) + ("*" if p.fallback else ""),
                          "counts": f"{p.x}/{p.n} in {p.n_clusters} {groups.many}; SE {num(p.se, 4)}; "
                                    f"design effect {num(p.design_effect)}"})
        auc_cell = None
        if auc is not None:
            auc_cell = {"key": "auc", "estimate": auc.auc, "low": auc.ci_low, "high": auc.ci_high,
                        "design_effect": auc.design_effect, "se": auc.se, "fallback": False,
                        "text": with_ci(auc.auc, auc.ci_low, auc.ci_high, _three),
                        "counts": f"{auc.n_clusters} {groups.many}; design effect {num(auc.design_effect)}"}
        deffs = ", ".join(f"{MEASURE_NAMES[c['key']]} {num(c['design_effect'])}" for c in cells)
        if auc_cell:
            deffs += f", AUC {num(auc_cell['design_effect'])}"
        rows.append({"name": t.name, "cells": cells, "auc": auc_cell, "design_effects": deffs,
                     "n_clusters": m.n_clusters, "n_units": m.n_units, "notes": list(m.notes)})
        record = {"index test": t.name, "units": m.n_units, groups.many: m.n_clusters}
        for c in cells + ([auc_cell] if auc_cell else []):
            record[c["key"]] = c["estimate"]
            record[c["key"] + "_ci_low"] = c["low"]
            record[c["key"] + "_ci_high"] = c["high"]
            record[c["key"] + "_se"] = c["se"]
            record[c["key"] + "_design_effect"] = c["design_effect"]
        record["method"] = (m.sensitivity.method if not m.sensitivity.fallback else m.specificity.method) + (
            "; AUC: Obuchowski 1997" if auc_cell else "")
        frame.append(record)
    return rows, pd.DataFrame(frame)


def _paired_clustered(paired_rows: list[dict]):
    """Durkalski's and Obuchowski's tests (and the clustered AUC difference) for every pair."""
    rows, frame = [], []
    for r in paired_rows:
        c = r["clustered"]
        if c is None:
            continue
        parts = []
        for label, part in (("positive calls (all)", c.overall), (f"sensitivity (malignant, n={c.n_diseased})",
                                                                  c.sensitivity),
                            (f"specificity (benign, n={c.n_healthy})", c.specificity)):
            parts.append({"label": label, "durkalski": part.durkalski, "obuchowski": part.obuchowski})
            for name, res in (("durkalski", part.durkalski), ("obuchowski", part.obuchowski)):
                item = {"test 1": r["a"].name, "test 2": r["b"].name, "comparison": label,
                        "statistic": res.statistic, "p_value": res.p_value, "method": res.method}
                if name == "durkalski":
                    item |= {"b": res.b, "c": res.c}
                else:
                    item |= {"difference": res.difference, "difference_ci_low": res.ci_low,
                             "difference_ci_high": res.ci_high}
                frame.append(item)
        auc = r["clustered_auc"]
        if auc is not None:
            frame.append({"test 1": r["a"].name, "test 2": r["b"].name, "comparison": "AUC (clustered)",
                          "statistic": auc.z, "p_value": auc.p_value, "method": auc.method,
                          "difference": auc.difference, "difference_ci_low": auc.ci_low,
                          "difference_ci_high": auc.ci_high})
        rows.append({"a": r["a"].name, "b": r["b"].name, "n": r["n"], "n_clusters": c.n_clusters, "parts": parts,
                     "auc": auc})
    return rows, pd.DataFrame(frame)


def _paired(paired_rows: list[dict], units: str = "nodes"):
    rows, frame = [], []
    for r in paired_rows:
        if r["paired"] is None:
            continue
        overall, p = r["overall"], r["paired"]
        item = {"a": r["a"].name, "b": r["b"].name, "n": r["n"],
                "overall": overall, "sens": p.sensitivity, "spec": p.specificity, "pc": p, "delong": r["delong"]}
        rows.append(item)
        for label, res in (("overall agreement", overall), (f"sensitivity (malignant {units})", p.sensitivity),
                           (f"specificity (benign {units})", p.specificity)):
            chosen = getattr(res, res.reported)
            frame.append({"test 1": r["a"].name, "test 2": r["b"].name, "comparison": label, "b": res.b, "c": res.c,
                          "statistic": chosen.statistic, "p_value": chosen.p_value, "method": chosen.method})
        if r["delong"] is not None:
            d = r["delong"]
            frame.append({"test 1": r["a"].name, "test 2": r["b"].name, "comparison": "AUC (paired DeLong)",
                          "b": None, "c": None, "statistic": d.z, "p_value": d.p_value, "method": d.method,
                          "difference": d.difference, "difference_ci_low": d.ci_low, "difference_ci_high": d.ci_high})
    return rows, pd.DataFrame(frame)


def _dictionary_table(provenance: dict):
    matches = provenance.get("report_matches")
    if not matches:
        return None, None
    counter = Counter()
    for entries in matches:
        counter.update(set(entries))
    rows = []
    for key, n in counter.most_common():
        term, category, line = key.split("\x00")
        rows.append({"term": term, "category": category, "dictionary line": line, "reports matched": n})
    frame = pd.DataFrame(rows)
    return rows, frame


def _figures(comparison: Comparison, accuracy, provenance: dict, fig_dir: Path) -> dict[str, str]:
    out = {}
    scored = [t for t in comparison.tests if t.scores is not None]
    curves, points = [], []
    for t in scored:
        f = comparison.test_frame(t)
        curve = roc_curve(f["gold"], f["score"])
        row = next(r for r in accuracy if r["test"] is t)
        a = row["clustered_auc"] or row["auc"]  # the legend's CI is the one Table 3 shows
        curves.append({"name": t.name, "fpr": 1 - curve.specificity, "tpr": curve.sensitivity,
                       "auc": a.auc, "lo": a.ci_low, "hi": a.ci_high})
    for r in accuracy:
        m = r["metrics"]
        marker = "s" if r["test"].kind == "reports" else "o"
        colour = "#111111" if r["test"].kind == "reports" else None
        point = {"name": f"{r['test'].name} (operating point)", "fpr": 1 - m.specificity.estimate,
                 "tpr": m.sensitivity.estimate, "marker": marker}
        if colour:
            point["colour"] = colour
        points.append(point)
    pngs = {}
    if curves or points:
        pngs["roc"] = figures.roc_figure(curves, points)
    with_dice = [(t.name, np.asarray(t.dice, dtype=float)) for t in comparison.tests
                 if t.dice is not None and np.isfinite(np.asarray(t.dice, dtype=float)).any()]
    if with_dice:
        pngs["dice"] = figures.dice_figure(with_dice)
        pngs["examples"] = _examples(comparison, provenance)
    pngs["confusion"] = figures.confusion_figure([(r["test"].name, (r["table"].tp, r["table"].fp, r["table"].fn,
                                                                    r["table"].tn)) for r in accuracy])
    if scored:
        cal = []
        for t in scored:
            c = comparison.calibration_of(t)
            cal.append({"name": t.name, "predicted": c.bin_mean_predicted, "observed": c.bin_observed,
                        "brier": c.brier})
        pngs["calibration"] = figures.calibration_figure(cal)
        dcs = []
        for t in scored:
            d = comparison.decision_curve_of(t)
            dcs.append({"name": t.name, "thresholds": d.thresholds, "net_benefit": d.net_benefit,
                        "treat_all": d.treat_all})
        pngs["decision"] = figures.decision_figure(dcs, float(comparison.gold.mean()))
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, png in pngs.items():
        if png is None:
            continue
        (fig_dir / f"{name}.png").write_bytes(png)
        out[name] = _b64(png)
    return out


def _examples(comparison: Comparison, provenance: dict) -> bytes | None:
    from PIL import Image  # optional (the ynet extra): loaded lazily, only for the example images

    t = next(t for t in comparison.tests if t.dice is not None and np.isfinite(np.asarray(t.dice, float)).any())
    frame = pd.DataFrame({"id": t.ids, "dice": np.asarray(t.dice, float), "mask": t.mask_files}).dropna(subset=["dice"])
    frame = frame[frame["mask"].astype(str) != ""].sort_values("dice").reset_index(drop=True)
    if frame.empty:
        return None
    picks = [("worst", 0), ("median", len(frame) // 2), ("best", len(frame) - 1)]
    examples = []
    for title, k in picks:
        row = frame.iloc[k]
        with Image.open(provenance["images"][row["id"]]) as im:
            image = np.asarray(im.convert("L"))
        ref = None
        for path in provenance["ref_masks"].get(row["id"], []):
            with Image.open(path) as m:
                arr = np.asarray(m.convert("L")) > 0
            ref = arr if ref is None else ref | arr
        with Image.open(row["mask"]) as m:
            pred = np.asarray(m.convert("L")) > 0
        examples.append({"title": f"{title}: {row['id']} (Dice {row['dice']:.3f})", "image": image,
                         "reference": ref, "predicted": pred})
    return figures.examples_figure(examples)


def _errors(comparison: Comparison, provenance: dict, limit: int = 12) -> list[dict]:
    texts = provenance.get("report_texts") or {}
    reports = next((t for t in comparison.tests if t.kind == "reports"), None)
    if reports is None or not texts:
        return []
    rows = []
    for i, call in zip(reports.ids, reports.calls):
        gold = comparison.gold.get(i)
        if gold is None or call == gold:
            continue
        kind = "false positive" if call == 1 else "false negative" if call == 0 else "indeterminate"
        rows.append({"id": i, "kind": kind, "reference": "malignant" if gold == 1 else "benign",
                     "text": str(texts.get(i, ""))})
    return rows[:limit]


def _dice_summaries(comparison: Comparison, seed: int) -> list[tuple]:
    """(name, node-level summary, cluster-bootstrap CI of the median or None) per test with Dice."""
    out = []
    for t in comparison.tests:
        dice = np.asarray(t.dice, float) if t.dice is not None else None
        if dice is None or not np.isfinite(dice).any():
            continue
        summary = summarize_overlap(dice, n_boot=1000, seed=seed)
        by_cluster = None
        if comparison.clustered and comparison.clusters is not None:
            clusters = pd.Series(t.ids).map(comparison.clusters)
            clusters = clusters.fillna(pd.Series(t.ids)).astype(str).to_numpy()
            kept = np.isfinite(dice)
            if len(set(clusters[kept])) > 1:
                by_cluster = cluster_bootstrap(weighted_median(dice[kept]), clusters[kept], n_boot=2000, seed=seed)
        out.append((t.name, summary, by_cluster))
    return out


def write_outputs(comparison: Comparison, provenance: dict, options, out: Path, work: Path) -> None:
    root = provenance.get("output_folder")
    unit = comparison.unit_name
    units = plural(unit)
    accuracy = comparison.accuracy_rows()
    paired_rows = comparison.paired_rows()
    table3, table3_frame = _table3(accuracy)
    groups = comparison.cluster_name
    clustered3, clustered3_frame = _table3_clustered(accuracy, groups)
    paired, paired_frame = _paired(paired_rows, units)
    paired_c, paired_c_frame = _paired_clustered(paired_rows)
    dictionary, dictionary_frame = _dictionary_table(provenance)
    location = comparison.location_table()
    baseline = comparison.baseline_rows()
    subgroups = pd.DataFrame(comparison.subgroup_rows())
    figs = _figures(comparison, accuracy, provenance, out / "figures")
    flow = comparison.flow
    dice_summaries = _dice_summaries(comparison, options.seed)
    n_patients = comparison.n_clusters
    readers = reader_section(options.readers, comparison) if getattr(options, "readers", None) else None
    record = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "manifest": shown_path(provenance["manifest"], root), "manifest_sha256": provenance["manifest_sha256"],
        "paths_relative_to": ("this output folder (…/ = outside its tree: last parts only, the sha256 "
                              "identifies the file)") if root else "the working folder",
        "split": relative_text(flow.split, root), "seed": options.seed, "indeterminate_rule": options.indeterminate,
        "threshold_rule": options.threshold, "reference_standard": comparison.reference, "index_tests": [
            {"name": t.name, "kind": t.kind, "source": shown_source(t.source, provenance["manifest"], root),
             "sha256": t.sha256,
             "cut_off": t.threshold, "cut_off_rule": relative_text(t.threshold_rule, root)}
            for t in comparison.tests],
        "unit_of_analysis": {"unit_name": unit, "clustered": comparison.clustered, "reason": comparison.unit_reason,
                             "units": int(len(comparison.gold)), "patients": n_patients,
                             "cluster_name": groups.one, "cluster_name_plural": groups.many},
        "synthetic_data": options.synthetic,
        "report_overrides": provenance.get("report_overrides"),
        "notes": [relative_text(note, root) for note in provenance.get("notes", [])],
    }
    baseline_frame = []
    for b in baseline:
        if b["kind"] == "categorical":
            for cat, counts in b["counts"].items():
                baseline_frame.append({"variable": b["variable"], "value": cat, **counts,
                                       "test": b["test"].method, "p_value": b["test"].p_value})
        else:
            for g, s in b["summary"].items():
                baseline_frame.append({"variable": b["variable"], "value": f"median [Q1, Q3] ({g})",
                                       g: f"{s['median']:.1f} [{s['q1']:.1f}, {s['q3']:.1f}]", "n": s["n"],
                                       "test": b["test"].method, "p_value": b["test"].p_value})
    flow_frame = pd.DataFrame(
        [{"step": f"{units} in the manifest", "n": flow.manifest_rows},
         {"step": "excluded by label filter", "n": flow.excluded_by_label},
         {"step": f"in the split ({relative_text(flow.split, root)})", "n": flow.in_split},
         {"step": f"{groups.many} in the split", "n": n_patients}]
        + [{"step": f"with a result: {name}", "n": n} for name, n in flow.with_result.items()]
        + [{"step": "indeterminate report calls", "n": flow.indeterminate_reports}])
    sheets = {"flow": flow_frame}
    if clustered3_frame is not None:
        sheets |= {"table3_accuracy": clustered3_frame, "paired_tests": paired_c_frame,
                   "tableS1_unclustered": table3_frame, "tableS2_paired_unclustered": paired_frame}
    else:
        sheets |= {"table3_accuracy": table3_frame, "paired_tests": paired_frame}
    sheets |= {"table2_baseline": pd.DataFrame(baseline_frame), "subgroups": subgroups}
    if dictionary_frame is not None:
        sheets["table1_dictionary"] = dictionary_frame
    if location is not None:
        sheets["table2_location"] = location.reset_index()
    if readers is not None:
        sheets |= readers.frames()
        record["reader_study"] = readers.record(shown_path(readers.file, root))
        (out / "figures" / "reader_study.png").write_bytes(readers.figure_png)
    (out / "tables").mkdir(parents=True, exist_ok=True)

    with pd.ExcelWriter(out / "tables.xlsx", engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe = frame.map(escape_cell) if not frame.empty else frame
            safe.to_excel(writer, sheet_name=name[:31], index=False)
            write_csv(out / "tables" / f"{name}.csv", frame)  # BOM: Excel opens Chinese headers right

    (out / "run.json").write_text(json.dumps(json_safe(record), indent=2, default=str, allow_nan=False),
                                  encoding="utf-8")  # strict JSON: NaN written as null
    env = Environment(loader=PackageLoader("reportmine.compare", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True))
    env.filters.update(pct=pct, num=num, pval=pval)
    html = env.get_template("page.html.j2").render(
        title=options.title, record=record, flow=flow, table3=table3, paired=paired, dictionary=dictionary,
        clustered3=clustered3, paired_clustered=paired_c, unit=unit, units=units, n_patients=n_patients,
        clustered=comparison.clustered, unit_reason=comparison.unit_reason,
        clustered_footnote=CLUSTERED_FOOTNOTE.format(unit=unit, units=units, group=groups.one, groups=groups.many),
        group=groups.one, groups=groups.many, reference=comparison.reference,
        location=location, baseline=baseline, subgroups=subgroups.to_dict("records") if not subgroups.empty else [],
        figures=figs, dice_summaries=dice_summaries, errors=_errors(comparison, provenance),
        reports_present=provenance["reports_present"], review_page=provenance.get("review_page"), ci_footnote=CI_FOOTNOTE, options=options,
        tests=comparison.tests, n_malignant=int(comparison.gold.sum()), n_benign=int((comparison.gold == 0).sum()),
        reader_study=readers, reader_figure=_b64(readers.figure_png) if readers is not None else None)
    (out / "index.html").write_text(html, encoding="utf-8")
