"""Spreadsheet input and output: encodings, streaming, atomic writes, formula escaping.

Reading: ``.csv`` (UTF-8, UTF-8 with BOM, GB18030/GBK) in chunks, ``.xlsx`` row by row
(openpyxl read-only), so a million-row export is read in bounded memory.
Writing: ``.csv`` or ``.xlsx`` (openpyxl write-only) to a temporary file beside the
target, renamed into place only when complete; cells that a spreadsheet would run as a
formula (= + - @) are escaped with a leading apostrophe.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ENCODINGS = ("utf-8-sig", "gb18030")
TEXT_COLUMN_NAMES = ("report_text", "text", "report", "findings", "impression", "description",
                     "conclusion", "超声所见", "检查所见", "超声描述", "报告", "超声提示", "诊断")
ID_COLUMN_NAMES = ("ln_id", "id", "report_id", "ID", "编号", "检查号")


class InputError(ValueError):
    """Bad input; the message is one line naming the file (and row/column)."""


def escape_cell(value):
    """Neutralise spreadsheet formulas in untrusted text (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def detect_encoding(path: Path, sample_bytes: int = 1 << 20) -> str:
    """The first of UTF-8 (BOM or not) and GB18030 that decodes the file's first MiB."""
    with open(path, "rb") as handle:
        sample = handle.read(sample_bytes)
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            decoder.decode(sample, final=len(sample) < sample_bytes)
            return encoding
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: cannot decode as UTF-8 or GB18030; pass --encoding")


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a .csv or .xlsx file")
    if path.suffix.lower() not in (".csv", ".xlsx", ".xlsm"):
        raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; use .csv or .xlsx")


def read_table_chunks(path: str | Path, *, sheet: str | None = None, encoding: str | None = None,
                      chunksize: int = 5000) -> Iterator[pd.DataFrame]:
    """Yield the table in chunks of string columns; the index is the 1-based file row."""
    path = Path(path)
    _check_readable(path)
    if path.suffix.lower() == ".csv":
        yield from _csv_chunks(path, encoding, chunksize)
    else:
        yield from _xlsx_chunks(path, sheet, chunksize)


def _csv_chunks(path: Path, encoding: str | None, chunksize: int) -> Iterator[pd.DataFrame]:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(f"{path}: unknown encoding {encoding!r}") from exc
    chosen = encoding or detect_encoding(path)
    row = 2  # data starts on line 2 of the file (line 1 is the header)
    try:
        reader = pd.read_csv(path, encoding=chosen, dtype=str, keep_default_na=False,
                             chunksize=chunksize, on_bad_lines="error")
        for chunk in reader:
            chunk.index = range(row, row + len(chunk))
            row += len(chunk)
            yield chunk
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: row ~{row}: bytes not valid {chosen}; pass --encoding") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: empty file (no header row)") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: malformed CSV: {str(exc).strip().splitlines()[-1]}") from exc


def _xlsx_chunks(path: Path, sheet: str | None, chunksize: int) -> Iterator[pd.DataFrame]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise InputError(f"{path}: no sheet {sheet!r}; sheets: {', '.join(workbook.sheetnames)}")
        ws = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise InputError(f"{path}: sheet {ws.title!r} is empty (no header row)")
        columns = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header)]
        batch: list[list] = []
        first_row = 2
        for values in rows:
            values = list(values) + [None] * (len(columns) - len(values))
            batch.append([_cell_text(v) for v in values[: len(columns)]])
            if len(batch) >= chunksize:
                yield pd.DataFrame(batch, columns=columns, index=range(first_row, first_row + len(batch)))
                first_row += len(batch)
                batch = []
        if batch or first_row == 2:
            yield pd.DataFrame(batch, columns=columns, index=range(first_row, first_row + len(batch)))
    finally:
        workbook.close()


def _cell_text(value):
    """Strings stay strings; numbers and dates become None (a report must be text)."""
    if value is None or isinstance(value, str):
        return value
    return _NonText(value)


class _NonText(str):
    """A non-text cell, kept as its string form but recognisable as not a report."""

    def __new__(cls, value):
        obj = super().__new__(cls, str(value))
        obj.original = value
        return obj


def is_text_cell(value) -> bool:
    return isinstance(value, str) and not isinstance(value, _NonText) and bool(value.strip())


def choose_column(path: Path, columns: Sequence[str], wanted: str | None, names: Sequence[str],
                  what: str, sample: pd.DataFrame | None = None) -> str | None:
    """The named column, or the one unambiguous candidate; a clear error otherwise."""
    if wanted is not None:
        if wanted not in columns:
            raise InputError(f"{path}: no column {wanted!r}; columns: {', '.join(map(str, columns))}")
        return wanted
    lowered = {str(c).strip().lower(): c for c in columns}
    hits = [lowered[n.lower()] for n in names if n.lower() in lowered]
    if hits:
        return hits[0]
    if what != "text" or sample is None:
        return None
    lengths = {c: sample[c].map(lambda v: len(v) if is_text_cell(v) else 0).mean() for c in columns}
    long = [c for c, mean in lengths.items() if mean >= 15]
    if len(long) == 1:
        return long[0]
    raise InputError(f"{path}: cannot tell which column holds the report text; pass --text-col "
                     f"(columns: {', '.join(map(str, columns))})")


class AtomicTableWriter:
    """Write one or more sheets (xlsx) or one CSV per sheet, renamed into place at the end.

    For CSV output the first sheet goes to ``path`` and each further sheet to
    ``path.with_suffix('.<sheet>.csv')``.
    """

    def __init__(self, path: str | Path, sheets: dict[str, Sequence[str]], *, protect: Sequence[Path] = ()):
        self.path = Path(path)
        self.format = self.path.suffix.lower()
        if self.format not in (".csv", ".xlsx"):
            raise InputError(f"{self.path}: output must end in .csv or .xlsx")
        for p in protect:
            if self.path.resolve() == Path(p).resolve():
                raise InputError(f"{self.path}: refusing to overwrite the input file")
        if not self.path.parent.exists():
            raise InputError(f"{self.path}: output folder does not exist")
        self.sheets = {name: list(columns) for name, columns in sheets.items()}
        self._tmp: dict[str, Path] = {}
        self._targets: dict[str, Path] = {}

    def sheet_path(self, name: str) -> Path:
        first = next(iter(self.sheets))
        if self.format == ".xlsx" or name == first:
            return self.path
        return self.path.with_suffix(f".{name}.csv")

    def __enter__(self) -> AtomicTableWriter:
        if self.format == ".xlsx":
            from openpyxl import Workbook

            self._workbook = Workbook(write_only=True)
            self._ws = {}
            for name, columns in self.sheets.items():
                ws = self._workbook.create_sheet(name)
                ws.append(columns)
                self._ws[name] = ws
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=self.path.parent)
            os.close(fd)
            self._tmp["*"] = Path(tmp)
        else:
            self._handles = {}
            self._writers = {}
            for name, columns in self.sheets.items():
                target = self.sheet_path(name)
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=target.parent)
                handle = os.fdopen(fd, "w", encoding="utf-8-sig", newline="")
                self._handles[name] = handle
                self._writers[name] = csv.writer(handle)
                self._writers[name].writerow(columns)
                self._tmp[name] = Path(tmp)
                self._targets[name] = target
        return self

    def write(self, sheet: str, rows: Sequence[dict]) -> None:
        columns = self.sheets[sheet]
        for row in rows:
            values = [escape_cell(_plain(row.get(c, ""))) for c in columns]
            if self.format == ".xlsx":
                self._ws[sheet].append(values)
            else:
                self._writers[sheet].writerow(values)

    def _abandon_workbook(self) -> None:
        """Close the write-only sheets of a workbook that will not be saved."""
        for ws in self._workbook.worksheets:
            ws.close()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.format == ".xlsx":
                if exc_type is None:
                    self._workbook.save(self._tmp["*"])
                    os.replace(self._tmp["*"], self.path)
                else:
                    self._abandon_workbook()
            else:
                for handle in self._handles.values():
                    handle.close()
                if exc_type is None:
                    for name, tmp in self._tmp.items():
                        os.replace(tmp, self._targets[name])
        finally:
            for tmp in self._tmp.values():
                if tmp.exists():
                    tmp.unlink()


def _plain(value):
    if isinstance(value, _NonText):
        return str(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def write_json_atomic(path: str | Path, payload: dict) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=2, default=str)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
