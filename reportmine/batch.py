"""Classify a whole table or file of reports, streaming, with a summary."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .classify import ReportClassifier, evidence_rows, result_row
from .core.errors import InputError
from .core.outputs import AtomicTableWriter
from .core.provenance import file_sha256, run_record
from .core.tables import ID_COLUMN_NAMES, choose_column, is_text_cell, read_table_chunks

log = logging.getLogger(__name__)

TEXT_COLUMN_NAMES = ("report_text", "text", "report", "findings", "impression", "description",
                     "conclusion", "超声所见", "检查所见", "超声描述", "报告", "超声提示", "诊断")

RESULT_COLUMNS = ("id", "row", "label", "label_3class", "rule", "reason", "language", "flags",
                  "target_node", "node_statements", "deciding_statement", "evidence", "text")
EVIDENCE_COLUMNS = ("id", "row", "matched_text", "start", "end", "entry", "category", "dictionary_line",
                    "match", "score", "scope", "node_statement", "negated", "negation_cue", "hedged",
                    "hedge_cue", "polarity")
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


def _classify_chunk(classifier: ReportClassifier, chunk: pd.DataFrame, text_col: str, id_col: str | None,
                    level_col: str | None, side_col: str | None, counts: dict[str, Counter]):
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
    """(results, evidence) tables for a DataFrame of reports (one row per report)."""
    classifier = classifier or ReportClassifier(**options)
    where = Path("<frame>")
    text_col = choose_column(where, list(frame.columns), text_col, TEXT_COLUMN_NAMES, "text", frame.head(200))
    id_col = choose_column(where, list(frame.columns), id_col, ID_COLUMN_NAMES, "id")
    level_col, side_col = _target_columns(frame.columns)
    counts = {k: Counter() for k in ("labels", "languages", "rules", "flags")}
    results, evidence = _classify_chunk(classifier, frame, text_col, id_col, level_col, side_col, counts)
    return (pd.DataFrame(results, columns=RESULT_COLUMNS).set_index(frame.index),
            pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS))


def default_output(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.classified{path.suffix.lower() if path.suffix.lower() == '.csv' else '.xlsx'}")


def classify_file(path: str | Path, out: str | Path | None = None, *, text_col: str | None = None,
                  id_col: str | None = None, sheet: str | None = None, encoding: str | None = None,
                  classifier: ReportClassifier | None = None, chunksize: int = 5000,
                  progress: Callable[[int], None] | None = None, **options) -> ClassifySummary:
    """Classify every report of a .csv/.xlsx file and write results + evidence atomically.

    Nothing is written if the input is unusable (:class:`InputError`). The run record
    (versions, configuration, input hash) goes into a ``run`` sheet (xlsx) or a
    ``.run.json`` file beside a CSV output.
    """
    path = Path(path)
    out = Path(out) if out is not None else default_output(path)
    classifier = classifier or ReportClassifier(**options)
    started = time.perf_counter()
    chunks = read_table_chunks(path, sheet=sheet, encoding=encoding, chunksize=chunksize)
    first = next(chunks)
    columns = list(first.columns)
    text_col = choose_column(path, columns, text_col, TEXT_COLUMN_NAMES, "text", first)
    id_col = choose_column(path, columns, id_col, ID_COLUMN_NAMES, "id")
    level_col, side_col = _target_columns(columns)
    record = run_record(classifier.config() | {"text_column": text_col, "id_column": id_col or "(row number)",
                                               "target_level_column": level_col or "",
                                               "target_side_column": side_col or ""},
                        {str(path): file_sha256(path)})
    counts = {k: Counter() for k in ("labels", "languages", "rules", "flags")}
    sheets = {"results": RESULT_COLUMNS, "evidence": EVIDENCE_COLUMNS}
    if out.suffix.lower() == ".xlsx":
        sheets["run"] = ("key", "value")
    # every file written (results, the evidence sidecar, the run record) is checked against
    # every input (the table and the dictionary files) before anything is written
    meta = out.with_suffix(".run.json") if out.suffix.lower() == ".csv" else None
    protect = [path, *(Path(p) for p in getattr(classifier.dictionary, "paths", ()))]
    writer = AtomicTableWriter(out, sheets, protect=protect, companions=[meta] if meta else [])
    n = 0
    with writer:
        for chunk in _chain(first, chunks):
            results, evidence = _classify_chunk(classifier, chunk, text_col, id_col, level_col, side_col, counts)
            writer.write("results", results)
            writer.write("evidence", evidence)
            n += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if n == 0:
            raise InputError(f"{path}: no data rows")
        if "run" in sheets:
            writer.write("run", _flatten_record(record))
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


def _chain(first, rest):
    yield first
    yield from rest


def _flatten_record(record: dict, prefix: str = "") -> list[dict]:
    rows = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten_record(value, name + "."))
        else:
            rows.append({"key": name, "value": str(value)})
    return rows
