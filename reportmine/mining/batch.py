"""Classify a whole table or file of reports, streaming, with a summary."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path

import pandas as pd

from ..core.errors import InputError
from ..core.outputs import AtomicTableWriter, carried_names, cell_values, csv_text
from ..core.provenance import file_sha256, flat_record, run_record
from ..core.tables import ID_COLUMN_NAMES, choose_column, is_text_cell, read_table_chunks
from .classify import ReportClassifier, evidence_rows, result_row

log = logging.getLogger(__name__)

TEXT_COLUMN_NAMES = ("report_text", "text", "report", "findings", "impression", "description",
                     "conclusion", "超声所见", "检查所见", "超声描述", "报告", "超声提示", "诊断")

RESULT_COLUMNS = ("id", "row", "label", "label_3class", "rule", "reason", "language", "flags",
                  "target_node", "node_statements", "deciding_statement", "evidence", "text")
EVIDENCE_COLUMNS = ("id", "row", "matched_text", "start", "end", "entry", "category", "dictionary_line",
                    "match", "score", "scope", "node_statement", "negated", "negation_cue", "hedged",
                    "hedge_cue", "context", "context_cue", "polarity")
TARGET_LEVEL_COLUMNS = ("level", "ln_level", "部位", "分区")
TARGET_SIDE_COLUMNS = ("side", "ln_side", "侧别")


@dataclass(frozen=True)
class ClassifySummary:
    n_reports: int
    labels: dict[str, int]
    languages: dict[str, int]
    rules: dict[str, int]
    empty: int
    truncated: int
    target_node_used: int
    output: str = ""
    extra_outputs: tuple[str, ...] = ()
    text_column: str = ""
    id_column: str = ""
    seconds: float = 0.0
    record: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.n_reports} reports classified from column {self.text_column!r}"
                 + (f" in {self.seconds:.1f} s" if self.seconds else "")]
        for label in ("malignant", "benign", "indeterminate"):
            n = self.labels.get(label, 0)
            share = 100 * n / self.n_reports if self.n_reports else 0.0
            lines.append(f"  {label:<14}{n:>8}  {share:5.1f} %")
        langs = ", ".join(f"{k or 'none'} {v}" for k, v in sorted(self.languages.items()))
        lines.append(f"  languages: {langs}")
        lines.append(f"  empty or non-text cells: {self.empty}; truncated (too long): {self.truncated}")
        if self.target_node_used:
            lines.append(f"  decided on the target node (level/side columns): {self.target_node_used}")
        if self.output:
            lines.append(f"  written: {self.output}" + "".join(f", {p}" for p in self.extra_outputs))
        return "\n".join(lines)


def _target_columns(columns) -> tuple[str | None, str | None]:
    lowered = {str(c).strip().lower(): c for c in columns}
    level = next((lowered[c] for c in TARGET_LEVEL_COLUMNS if c in lowered), None)
    side = next((lowered[c] for c in TARGET_SIDE_COLUMNS if c in lowered), None)
    return level, side


def carried_columns(columns, text_col: str, id_col: str | None) -> list[tuple[object, str]]:
    """(input column, result column) for every input column the results keep.

    The results keep the input's other columns after the toolkit's own, so a gold label,
    level or side travels with each result. The text column is already ``text``; an id
    column named ``id`` is already ``id``; any other name that is also one of ours is kept
    as ``input_<name>`` (an input ``label`` becomes ``input_label``).
    """
    return carried_names([c for c in columns if not (c == text_col or (c == id_col and str(c) == "id"))],
                         RESULT_COLUMNS)


def _cell(value):
    """An input cell as written back: a workbook number or date keeps its own type."""
    original = getattr(value, "original", None)
    if isinstance(original, bool | int | float):
        return original
    return value


def _classify_chunk(classifier: ReportClassifier, chunk: pd.DataFrame, text_col: str, id_col: str | None,
                    level_col: str | None, side_col: str | None, counts: dict[str, Counter],
                    carried: list[tuple[object, str]] = ()):
    results, evidence = [], []
    for row_number, row in zip(chunk.index, chunk.itertuples(index=False)):
        values = dict(zip(chunk.columns, row))
        text = values[text_col]
        report_id = values[id_col] if id_col else row_number
        if not is_text_cell(text):
            text = None
        result = classifier.classify(
            text,
            level=values[level_col] if level_col else None,
            side=values[side_col] if side_col else None,
        )
        flat = result_row(result)
        flat.update(id=report_id, row=row_number, text=text or "")
        for column, out in carried:
            flat[out] = _cell(values[column])
        results.append(flat)
        for ev in evidence_rows(result):
            ev.update(id=report_id, row=row_number)
            evidence.append(ev)
        counts["labels"][result.label] += 1
        counts["languages"][result.language] += 1
        counts["rules"][result.rule] += 1
        counts["flags"].update(result.flags)
    return results, evidence


def classify_frame(frame: pd.DataFrame, *, text_col: str | None = None, id_col: str | None = None,
                   classifier: ReportClassifier | None = None, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, evidence) tables for a DataFrame of reports (one row per report).

    The results hold the toolkit's columns (:data:`RESULT_COLUMNS`) and then the frame's
    other columns (:func:`carried_columns`), in the frame's order and index.
    """
    classifier = classifier or ReportClassifier(**options)
    where = Path("<frame>")
    text_col = choose_column(where, list(frame.columns), text_col, TEXT_COLUMN_NAMES, "text", frame.head(200))
    id_col = choose_column(where, list(frame.columns), id_col, ID_COLUMN_NAMES, "id")
    level_col, side_col = _target_columns(frame.columns)
    counts = {k: Counter() for k in ("labels", "languages", "rules", "flags")}
    carried = carried_columns(frame.columns, text_col, id_col)
    results, evidence = _classify_chunk(classifier, frame, text_col, id_col, level_col, side_col, counts,
                                        carried)
    columns = list(RESULT_COLUMNS) + [out for _, out in carried]
    return (pd.DataFrame(results, columns=columns).set_index(frame.index),
            pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS))


def classify_partition(frame: pd.DataFrame, *, text_col: str | None = None, id_col: str | None = None,
                       **options) -> pd.DataFrame:
    """The results table of one partition, for ``dask`` ``map_partitions`` (or Spark's
    ``mapInPandas``): :func:`classify_frame`'s results with a classifier built once per
    worker process for each set of ``options``. See the README's "Dask" recipe."""
    classifier = _cached_classifier(tuple(sorted(options.items())))
    return classify_frame(frame, text_col=text_col, id_col=id_col, classifier=classifier)[0]


@lru_cache(maxsize=4)
def _cached_classifier(options: tuple) -> ReportClassifier:
    return ReportClassifier(**dict(options))


MAX_JOBS_PER_CORE = 4  # more worker processes than this per usable core is refused, not forked


def resolve_jobs(jobs: int) -> int:
    """Worker processes for ``--jobs``: 0 means every core this process may use; at most
    :data:`MAX_JOBS_PER_CORE` per core (``--jobs 100000`` would fork 100,000 processes)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise InputError(f"--jobs must be 0 (all cores) or a positive number, got {jobs}")
    if jobs > MAX_JOBS_PER_CORE * cores:
        raise InputError(f"--jobs {jobs}: at most {MAX_JOBS_PER_CORE * cores} ({MAX_JOBS_PER_CORE} per core, "
                         f"{cores} core(s) here); 0 uses every core")
    return jobs or cores


def _classifier_options(classifier: ReportClassifier) -> dict:
    return {"dictionary": classifier.dictionary, "language": classifier.language, "hedge_as": classifier.hedge_as,
            "two_class": classifier.two_class, "max_chars": classifier.max_chars}


_WORKER: dict = {}  # the classifier of a worker process (inherited by fork, or built by _start_worker)


def _start_worker(options: dict) -> None:
    _WORKER["classifier"] = ReportClassifier(**options)


def _work(chunk: pd.DataFrame, columns: tuple, sheets: dict, as_text: bool) -> tuple:
    counts = {k: Counter() for k in ("labels", "languages", "rules", "flags")}
    results, evidence = _classify_chunk(_WORKER["classifier"], chunk, *columns[:4], counts, columns[4])
    # the cells (for a CSV output the encoded text) are made here, in parallel, so that the
    # writing process only writes
    results, evidence = cell_values(sheets["results"], results), cell_values(sheets["evidence"], evidence)
    if as_text:
        return csv_text(results), csv_text(evidence), counts
    return results, evidence, counts


def _classified_chunks(classifier: ReportClassifier, chunks: Iterable[pd.DataFrame], columns: tuple,
                       counts: dict, jobs: int, sheets: dict,
                       as_text: bool = False) -> Iterator[tuple[list | str, list | str, int]]:
    """(result cells, evidence cells, rows) per chunk, in input order; with ``jobs`` > 1 the
    chunks are classified by that many processes, at most two chunks per process in flight,
    so memory stays bounded whatever the file's size. ``as_text``: workers hand over the
    chunk's CSV text instead of its cells."""
    if jobs <= 1:
        for chunk in chunks:
            results, evidence = _classify_chunk(classifier, chunk, *columns[:4], counts, columns[4])
            yield cell_values(sheets["results"], results), cell_values(sheets["evidence"], evidence), len(chunk)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" in multiprocessing.get_all_start_methods():
        # forked workers inherit the classifier with its matchers built (copy-on-write)
        classifier.reader(classifier.language)
        _WORKER["classifier"] = classifier
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    else:
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(_classifier_options(classifier),))
    pending: deque = deque()
    try:
        for chunk in chunks:
            pending.append((pool.submit(_work, chunk, columns, sheets, as_text), len(chunk)))
            if len(pending) >= 2 * jobs:
                yield _collect(pending.popleft(), counts)
        while pending:
            yield _collect(pending.popleft(), counts)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER.clear()


def _collect(item, counts: dict) -> tuple[list, list, int]:
    future, n = item
    results, evidence, part = future.result()
    for key, counter in part.items():
        counts[key].update(counter)
    return results, evidence, n


def default_output(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.classified{path.suffix.lower() if path.suffix.lower() == '.csv' else '.xlsx'}")


def classify_file(path: str | Path, out: str | Path | None = None, *, text_col: str | None = None,
                  id_col: str | None = None, sheet: str | None = None, encoding: str | None = None,
                  classifier: ReportClassifier | None = None, chunksize: int = 5000,
                  progress: Callable[[int], None] | None = None, jobs: int = 1,
                  overrides: str | Path | None = None,
                  **options) -> ClassifySummary:
    """Classify every report of a .csv/.xlsx file and write results + evidence atomically.

    ``jobs``: worker processes (0 = every core); the output is the same, row for row, as
    with one.

    Nothing is written if the input is unusable (:class:`InputError`). The run record
    (versions, configuration, input hash) goes into a ``run`` sheet (xlsx) or a
    ``.run.json`` file beside a CSV output. ``overrides``: a reviewer's corrections CSV
    (:mod:`reportmine.mining.overrides`), applied to the results and counted in the run record.
    """
    path = Path(path)
    out = Path(out) if out is not None else default_output(path)
    jobs = resolve_jobs(jobs)
    classifier = classifier or ReportClassifier(**options)
    started = time.perf_counter()
    if jobs > 1:  # smaller tasks keep every worker busy to the end
        chunksize = max(200, min(chunksize, 2000))
    chunks = read_table_chunks(path, sheet=sheet, encoding=encoding, chunksize=chunksize)
    first = next(chunks)
    columns = list(first.columns)
    text_col = choose_column(path, columns, text_col, TEXT_COLUMN_NAMES, "text", first)
    id_col = choose_column(path, columns, id_col, ID_COLUMN_NAMES, "id")
    level_col, side_col = _target_columns(columns)
    record = run_record(classifier.config() | {"text_column": text_col, "id_column": id_col or "(row number)",
                                               "target_level_column": level_col or "",
                                               "target_side_column": side_col or "", "jobs": jobs},
                        {str(path): file_sha256(path)})
    counts = {k: Counter() for k in ("labels", "languages", "rules", "flags")}
    carried = carried_columns(columns, text_col, id_col)
    fixes = _override_applier(overrides)
    if fixes is not None:
        carried = fixes.carried(carried)
    own = fixes.columns(RESULT_COLUMNS) if fixes is not None else RESULT_COLUMNS
    sheets = {"results": list(own) + [out for _, out in carried], "evidence": EVIDENCE_COLUMNS}
    if out.suffix.lower() == ".xlsx":
        sheets["run"] = ("key", "value")
    # every file written (results, the evidence sidecar, the run record) is checked against
    # every input (the table, the dictionary files, the overrides) before anything is written
    meta = out.with_suffix(".run.json") if out.suffix.lower() == ".csv" else None
    protect = [path, *(Path(p) for p in getattr(classifier.dictionary, "paths", ()))]
    protect += [Path(overrides)] if overrides is not None else []
    writer = AtomicTableWriter(out, sheets, protect=protect, companions=[meta] if meta else [])
    n = 0
    with writer:
        columns_used = (text_col, id_col, level_col, side_col)
        as_text = out.suffix.lower() == ".csv" and fixes is None  # overrides need the cells
        for results, evidence, rows in _classified_chunks(classifier, chain([first], chunks),
                                                          (*columns_used, carried), counts, jobs, sheets,
                                                          as_text):
            if fixes is not None:
                results = fixes.apply_cells(sheets["results"], results)
            for sheet, rows_out in (("results", results), ("evidence", evidence)):
                if isinstance(rows_out, str):
                    writer.write_csv_text(sheet, rows_out)
                else:
                    writer.write_cells(sheet, rows_out)
            n += rows
            if progress is not None:
                progress(rows)
        if n == 0:
            raise InputError(f"{path}: no data rows")
        if fixes is not None:
            record["overrides"] = fixes.finish(path)
        if "run" in sheets:
            writer.write("run", [{"key": k, "value": str(v)} for k, v in flat_record(record)])
        if meta is not None:
            writer.add_json(meta, record)
    extra = [str(writer.sheet_path("evidence"))] if out.suffix.lower() == ".csv" else []
    if meta is not None:
        extra.append(str(meta))
    log.info("classified %d reports from %s into %s", n, path, out)
    return ClassifySummary(
        n_reports=n,
        labels=dict(counts["labels"]),
        languages=dict(counts["languages"]),
        rules=dict(counts["rules"]),
        empty=counts["flags"]["empty"],
        truncated=counts["flags"]["truncated"],
        target_node_used=counts["flags"]["target-node"],
        output=str(out),
        extra_outputs=tuple(extra),
        text_column=str(text_col),
        id_column=str(id_col or ""),
        seconds=time.perf_counter() - started,
        record=record,
    )


def _override_applier(overrides):
    if overrides is None:
        return None
    from .overrides import OverrideApplier, read_overrides

    return OverrideApplier(read_overrides(overrides))


