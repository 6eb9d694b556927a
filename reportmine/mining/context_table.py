"""The `reportmine context` command: the status of each row's term in its text, for a table.

``reportmine context FILE --text-col COL --term-col COL`` reads a .csv/.xlsx in chunks and
writes every row with the columns of :data:`CONTEXT_COLUMNS` (atomically, with a run
record), using :class:`~reportmine.mining.assertion.AssertionEngine` on each row.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from ..core.errors import InputError
from ..core.outputs import AtomicTableWriter, carried_names
from ..core.provenance import file_sha256, flat_record, run_record
from ..core.tables import choose_column, is_text_cell, read_table_chunks
from .assertion import CONTEXT_COLUMNS, STATUSES, AssertionEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContextSummary:
    n_rows: int
    statuses: dict[str, int]
    not_found: int
    output: str = ""
    extra_outputs: tuple[str, ...] = ()
    seconds: float = 0.0
    record: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.n_rows} rows read" + (f" in {self.seconds:.1f} s" if self.seconds else "")]
        for status in STATUSES:
            lines.append(f"  {status:<10}{self.statuses.get(status, 0):>8}")
        lines.append(f"  term not found in its text: {self.not_found}")
        if self.output:
            lines.append(f"  written: {self.output}" + "".join(f", {p}" for p in self.extra_outputs))
        return "\n".join(lines)


def output_columns(columns) -> list[tuple[object, str]]:
    """(input column, output column): the input's columns, renamed input_<name> where one of
    ours has the name, then :data:`CONTEXT_COLUMNS`."""
    return carried_names(columns, CONTEXT_COLUMNS)


def default_output(path: str | Path) -> Path:
    path = Path(path)
    suffix = ".csv" if path.suffix.lower() == ".csv" else ".xlsx"
    return path.with_name(f"{path.stem}.context{suffix}")


def context_file(path: str | Path, out: str | Path | None = None, *, text_col: str, term_col: str,
                 language: str = "auto", dictionary: str | Path | None = None, sheet: str | None = None,
                 encoding: str | None = None, chunksize: int = 5000,
                 progress: Callable[[int], None] | None = None) -> ContextSummary:
    """Write every row of a .csv/.xlsx with the status of its term in its text (atomically)."""
    path = Path(path)
    out = Path(out) if out is not None else default_output(path)
    engine = AssertionEngine(dictionary, language)
    started = time.perf_counter()
    chunks = read_table_chunks(path, sheet=sheet, encoding=encoding, chunksize=chunksize)
    first = next(chunks)
    columns = list(first.columns)
    text_col = choose_column(path, columns, text_col, (), "text", first)
    term_col = choose_column(path, columns, term_col, (), "term")
    carried = output_columns(columns)
    record = run_record(engine.config() | {"text_column": text_col, "term_column": term_col},
                        {str(path): file_sha256(path)})
    sheets = {"context": [o for _, o in carried] + list(CONTEXT_COLUMNS)}
    if out.suffix.lower() == ".xlsx":
        sheets["run"] = ["key", "value"]
    counts: Counter = Counter()
    n = 0
    meta = out.with_suffix(".run.json") if out.suffix.lower() == ".csv" else None
    protect = [path, *(Path(p) for p in getattr(engine.dictionary, "paths", ()))]
    writer = AtomicTableWriter(out, sheets, protect=protect, companions=[meta] if meta else [])
    with writer:
        for chunk in chain([first], chunks):
            rows = []
            for values in chunk.itertuples(index=False):
                cells = dict(zip(chunk.columns, values))
                text, term = cells[text_col], cells[term_col]
                result = engine(text if is_text_cell(text) else None, term if is_text_cell(term) else None)
                row = {o: cells[c] for c, o in carried}
                row.update(result.row())
                rows.append(row)
                counts[result.status if result.found else "not found"] += 1
            writer.write("context", rows)
            n += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if n == 0:
            raise InputError(f"{path}: no data rows")
        if "run" in sheets:
            writer.write("run", [{"key": k, "value": str(v)} for k, v in flat_record(record)])
        if meta is not None:  # renamed into place together with the table
            writer.add_json(meta, record)
    extra = [str(meta)] if meta is not None else []
    log.info("context of %d rows from %s into %s", n, path, out)
    return ContextSummary(n, {s: counts[s] for s in STATUSES}, counts["not found"], str(out), tuple(extra),
                          time.perf_counter() - started, record)
