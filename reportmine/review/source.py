"""Read what ``reportmine classify`` wrote: results, evidence and the run record.

An .xlsx output holds the sheets ``results``, ``evidence`` and ``run``; a .csv output is the
results, with ``NAME.evidence.csv`` and ``NAME.run.json`` beside it. Cells the writer
escaped against spreadsheet formulas (a leading apostrophe before ``= + - @``) are read
back as they were, so offsets into the report text stay right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import InputError
from ..core.inputs import MAX_JSON_BYTES, check_input_file
from ..core.labels import report_label
from ..core.outputs import unescape_frame
from ..core.provenance import flat_record
from ..core.tables import read_table, require_columns

RESULT_REQUIRED = ("id", "label", "text")
EVIDENCE_REQUIRED = ("id", "matched_text", "start", "end", "category")


@dataclass(frozen=True)
class ClassifyOutput:
    """One classify output, read back: ``results`` and ``evidence`` keep the file row as index."""

    path: Path
    results: pd.DataFrame
    evidence: pd.DataFrame
    evidence_path: Path
    record: dict[str, str] = field(default_factory=dict)  # run record, flattened ("config.hedge_as")
    gold_col: str | None = None
    gold: dict[int, str] = field(default_factory=dict)  # results row -> malignant / benign / indeterminate

    def summary(self) -> str:
        return (f"{self.path}: {len(self.results)} reports, {len(self.evidence)} evidence rows"
                + (f", gold column {self.gold_col!r} ({len(self.gold)} labelled)" if self.gold_col else ""))


def _read_record(path: Path) -> dict[str, str]:
    if path.suffix.lower() == ".csv":
        meta = path.with_suffix(".run.json")
        if not meta.exists():
            return {}
        check_input_file(meta, what="run record", max_bytes=MAX_JSON_BYTES)  # a pipe: one line
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            return {k: "" if v is None else str(v) for k, v in flat_record(record)}
        except (OSError, ValueError) as exc:
            raise InputError(f"{meta}: not a readable run record ({type(exc).__name__})") from exc
    try:
        run = read_table(path, sheet="run")
    except InputError:
        return {}
    if not {"key", "value"} <= set(run.columns):
        return {}
    return {str(k): "" if v is None or pd.isna(v) else str(v) for k, v in zip(run["key"], run["value"])}


def _gold(path: Path, results: pd.DataFrame, gold_col: str) -> dict[int, str]:
    require_columns(path, results.columns, [gold_col])
    gold = {}
    for row, value in results[gold_col].items():
        if value is None or not str(value).strip():
            continue
        label = report_label(value)  # a reference labelling of reports may say indeterminate
        if label is None:
            raise InputError(f"{path}: row {row}, column {gold_col}: {str(value)!r} is not a gold label "
                             f"(malignant/benign/indeterminate or 1/0)")
        gold[row] = label
    return gold


def _offsets(evidence_path: Path, evidence: pd.DataFrame) -> pd.DataFrame:
    evidence = evidence.copy()
    for column in ("start", "end"):
        numbers = pd.to_numeric(evidence[column], errors="coerce")
        bad = numbers.isna() | (numbers < 0) | (numbers != numbers.round())
        if bad.any():
            row = bad[bad].index[0]
            raise InputError(f"{evidence_path}: row {row}, column {column}: "
                             f"{evidence.at[row, column]!r} is not a character offset")
        evidence[column] = numbers.astype(int)
    return evidence


def read_classify_output(path: str | Path, *, gold_col: str | None = None,
                         limit: int | None = None) -> ClassifyOutput:
    """Read a classify output (.xlsx, or .csv with its .evidence.csv); the first ``limit``
    reports only when given. Every problem is an :class:`InputError` naming file, row and column."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        results = read_table(path)
        evidence_path = path.with_suffix(".evidence.csv")
        if not evidence_path.exists():
            raise InputError(f"{path}: no evidence file {evidence_path.name} beside it "
                             "(review needs the `reportmine classify` output with its .evidence.csv)")
        evidence = read_table(evidence_path)
    else:
        results = read_table(path, sheet="results")
        evidence_path = path
        evidence = read_table(path, sheet="evidence")
    require_columns(path, results.columns, RESULT_REQUIRED)
    require_columns(evidence_path, evidence.columns, EVIDENCE_REQUIRED)
    if not len(results):
        raise InputError(f"{path}: no reports")
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be at least 1, got {limit}")
        results = results.iloc[:limit]
    results = unescape_frame(results.fillna(""))
    evidence = _offsets(evidence_path, unescape_frame(evidence.fillna("")))
    gold = _gold(path, results, gold_col) if gold_col else {}
    return ClassifyOutput(path, results, evidence, evidence_path, _read_record(path), gold_col, gold)
