"""Reading untrusted tables: ``.csv`` (UTF-8, UTF-8 with BOM, GB18030/GBK) and ``.xlsx``.

CSV is read in chunks and a workbook row by row (openpyxl read-only), so a million-row
export is read in bounded memory. Every error is an :class:`InputError` naming the file
(and the row where it is known). Row numbers are those a spreadsheet shows: the header is
row 1, the first data row is row 2.

Bounds checked before reading (an untrusted file must not exhaust memory or hang):

* the file is a regular file (:func:`~reportmine.core.inputs.check_input_file`);
* a CSV has at most :data:`MAX_COLUMNS` columns, its header at most :data:`MAX_HEADER_BYTES`;
* a workbook's parts declare (zip) at most :data:`MAX_SHARED_STRINGS_BYTES` of shared strings
  and :data:`MAX_PART_BYTES` per part, :data:`MAX_WORKBOOK_BYTES` in all; no part holds a DTD
  (XML entity expansion, external entities), and the XML is parsed with ``defusedxml``;
* encodings: UTF-8 (with or without BOM), else GB18030 when the bytes read as Chinese text;
  bytes that decode as neither, or that decode as GB18030 only by pairing Latin letters with
  accented ones (a Latin-1 / Windows-1252 file), are refused with the ``--encoding`` hint,
  never read as mojibake.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path

import pandas as pd

from .errors import InputError
from .inputs import check_input_file, size_text

ENCODINGS = ("utf-8-sig", "gb18030")
MAX_COLUMNS = 16_384  # Excel's own limit
MAX_HEADER_BYTES = 16 << 20
MAX_SHARED_STRINGS_BYTES = 256 << 20
MAX_PART_BYTES = 1 << 30
MAX_WORKBOOK_BYTES = 2 << 30
# GB18030 decodes almost any bytes: a file is read as GB18030 only when at least this share
# of its multi-byte characters are GB2312 punctuation or common hanzi (see _reads_as_chinese).
MIN_COMMON_SHARE = 0.5
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
ID_COLUMN_NAMES = ("ln_id", "id", "report_id", "ID", "编号", "检查号")


def detect_encoding(path: Path, sample_bytes: int = 1 << 20) -> str:
    """UTF-8 (BOM or not) if the file's first MiB decodes as UTF-8; else GB18030 if it decodes
    as GB18030 and reads as Chinese text; else one line asking for ``--encoding``."""
    with open(path, "rb") as handle:
        sample = handle.read(sample_bytes)
    final = len(sample) < sample_bytes
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            decoder.decode(sample, final=final)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and not _reads_as_chinese(sample):
            raise InputError(f"{path}: not UTF-8, and its non-ASCII bytes do not read as Chinese (GB18030): "
                             "a single-byte encoding such as Latin-1 or Windows-1252? pass --encoding "
                             "(e.g. --encoding cp1252)")
        return encoding
    raise InputError(f"{path}: {_undecodable_row(path, ENCODINGS[0])}: cannot decode as UTF-8 or GB18030; "
                     f"pass --encoding")


def _reads_as_chinese(sample: bytes) -> bool:
    """Do the multi-byte GB18030 characters of ``sample`` look like Chinese text? Most must be
    GB2312's punctuation or common (level-1) hanzi, two high bytes with a lead byte of
    0xA1–0xD7. Latin-1 / Windows-1252 text read as GB18030 pairs lower-case accented letters
    (0xE0–0xFF, GB2312's rare level-2 hanzi or beyond) with whatever follows ('ö' + 'ß')."""
    pairs = common = 0
    i, n = 0, len(sample)
    while i < n:
        lead = sample[i]
        if lead < 0x80:
            i += 1
            continue
        trail = sample[i + 1] if i + 1 < n else 0
        pairs += 1
        if 0xA1 <= lead <= 0xD7 and 0xA1 <= trail <= 0xFE:
            common += 1
        i += 4 if 0x30 <= trail <= 0x39 else 2  # a four-byte GB18030 sequence
    return pairs == 0 or common >= MIN_COMMON_SHARE * pairs


def check_readable(path: Path) -> None:
    """A clear error unless ``path`` is an existing, readable .csv/.xlsx file."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a .csv or .xlsx file")
    check_input_file(path)  # a pipe or a device would block or never end
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; use .csv or .xlsx")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from exc


def read_table_chunks(path: str | Path, *, sheet: str | None = None, encoding: str | None = None,
                      chunksize: int = 5000) -> Iterator[pd.DataFrame]:
    """Yield the table in chunks of string cells; the index is the file's row number."""
    path = Path(path)
    check_readable(path)
    if path.suffix.lower() == ".csv":
        if sheet is not None:
            raise InputError(f"{path}: --sheet applies to .xlsx workbooks, not to a CSV file")
        yield from _csv_chunks(path, encoding, chunksize)
    else:
        if encoding is not None:
            raise InputError(f"{path}: --encoding applies to CSV files, not to a workbook")
        yield from _xlsx_chunks(path, sheet, chunksize)


def read_table(path: str | Path, *, sheet: str | None = None, encoding: str | None = None,
               columns: Sequence[str] = ()) -> pd.DataFrame:
    """The whole table as strings (index = file row), checked to hold ``columns``."""
    frames = list(read_table_chunks(path, sheet=sheet, encoding=encoding))
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    require_columns(path, frame.columns, columns)
    return frame


def require_columns(path: str | Path, present: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in set(present)]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r}; columns: {', '.join(map(str, present))}")


def _csv_chunks(path: Path, encoding: str | None, chunksize: int) -> Iterator[pd.DataFrame]:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(f"{path}: unknown encoding {encoding!r}") from exc
    chosen = encoding or detect_encoding(path)
    _check_header(path, chosen)
    row = 2  # data starts on line 2 of the file (line 1 is the header)
    try:
        reader = pd.read_csv(path, encoding=chosen, dtype=str, keep_default_na=False,
                             chunksize=chunksize, on_bad_lines="error")
        for chunk in reader:
            chunk.index = range(row, row + len(chunk))
            row += len(chunk)
            yield chunk
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: {_undecodable_row(path, chosen)}: bytes not valid {chosen}; "
                         f"pass --encoding") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: empty file (no header row)") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: malformed CSV: {str(exc).strip().splitlines()[-1]}") from exc


def _check_header(path: Path, encoding: str) -> None:
    """Refuse (one line) a header record longer than :data:`MAX_HEADER_BYTES` or with more than
    :data:`MAX_COLUMNS` columns, before the parser allocates them."""
    with open(path, "rb") as handle:
        head = handle.read(MAX_HEADER_BYTES + 1)
    text = head.decode(encoding, errors="replace")
    limit = csv.field_size_limit(MAX_HEADER_BYTES + 1)
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error:
        header = None
    finally:
        csv.field_size_limit(limit)
    complete = len(head) <= MAX_HEADER_BYTES or "\n" in text
    if header is None or not complete:
        raise InputError(f"{path}: the header row is longer than {size_text(MAX_HEADER_BYTES)}; not a table "
                         f"this tool reads")
    if len(header) > MAX_COLUMNS:
        raise InputError(f"{path}: {len(header):,} columns in the header, more than the {MAX_COLUMNS:,} a "
                         f"table may have")


def _undecodable_row(path: Path, encoding: str) -> str:
    """'row N, column C' of the first cell holding bytes that do not decode: CSV records are
    counted (a quoted cell may span lines), the header being row 1, as a spreadsheet shows."""
    bad = re.compile("[\udc80-\udcff]")
    limit = csv.field_size_limit(2**31 - 1)  # report cells can be huge; restored below
    try:
        with open(path, encoding=encoding, errors="surrogateescape", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            for number, record in enumerate(chain([header], reader), start=1):
                for index, cell in enumerate(record):
                    if bad.search(cell):
                        name = header[index] if number > 1 and index < len(header) else f"{index + 1}"
                        return f"row {number}, column {name!r}" if number > 1 else f"row 1 (header), column {index + 1}"
    except (csv.Error, OSError, UnicodeError):
        pass
    finally:
        csv.field_size_limit(limit)
    return "a row"


# what an XML parser raises on a malformed or forbidden part (expat: SyntaxError subclasses;
# defusedxml: ValueError subclasses)
XML_ERRORS = (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, SyntaxError, EOFError,
              zlib.error, RecursionError)
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def check_workbook(path: Path) -> None:
    """Refuse (one line) a workbook whose zip parts declare more bytes than the bounds, or
    whose XML parts carry a DTD (entity expansion, external entities), before it is parsed."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            total = sum(info.file_size for info in infos)
            if total > MAX_WORKBOOK_BYTES:
                raise InputError(f"{path}: its parts unpack to {size_text(total)}, more than the "
                                 f"{size_text(MAX_WORKBOOK_BYTES)} a workbook may have")
            for info in infos:
                name = info.filename
                limit = MAX_SHARED_STRINGS_BYTES if name.lower().endswith("sharedstrings.xml") else MAX_PART_BYTES
                if info.file_size > limit:
                    raise InputError(f"{path}: part {name} unpacks to {size_text(info.file_size)}, more than "
                                     f"the {size_text(limit)} allowed")
                if name.lower().endswith((".xml", ".rels", ".vml")):
                    with archive.open(info) as part:
                        head = part.read(64 << 10)
                    if _DTD.search(head):
                        raise InputError(f"{path}: part {name} declares a DTD or XML entities; a workbook "
                                         f"never needs them (refused: entity expansion or external entities)")
    except InputError:
        raise
    except XML_ERRORS as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from exc


def _open_workbook(path: Path):
    from openpyxl import load_workbook

    check_workbook(path)
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except InputError:
        raise
    except MemoryError as exc:
        raise InputError(f"{path}: too large to read in memory") from exc
    except XML_ERRORS as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from exc


def sheet_names(path: str | Path) -> list[str]:
    """The sheets of a .xlsx workbook ([] for any other file)."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        return []
    workbook = _open_workbook(path)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _xlsx_chunks(path: Path, sheet: str | None, chunksize: int) -> Iterator[pd.DataFrame]:
    try:
        yield from _xlsx_rows(path, sheet, chunksize)
    except InputError:
        raise
    except MemoryError as exc:
        raise InputError(f"{path}: too large to read in memory") from exc
    except XML_ERRORS as exc:  # a part that turns out malformed while its rows are read
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from exc


def _xlsx_rows(path: Path, sheet: str | None, chunksize: int) -> Iterator[pd.DataFrame]:
    workbook = _open_workbook(path)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise InputError(f"{path}: no sheet {sheet!r}; sheets: {', '.join(workbook.sheetnames)}")
        ws = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise InputError(f"{path}: sheet {ws.title!r} is empty (no header row)")
        if len(header) > MAX_COLUMNS:
            raise InputError(f"{path}: {len(header):,} columns in the header, more than the {MAX_COLUMNS:,} "
                             f"a table may have")
        columns = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header)]
        batch: list[list] = []
        first_row = 2
        for values in rows:
            values = list(values) + [None] * (len(columns) - len(values))
            batch.append([_cell_text(v) for v in values[: len(columns)]])
            if len(batch) >= chunksize:
                yield _frame(batch, columns, first_row)
                first_row += len(batch)
                batch = []
        if batch or first_row == 2:
            yield _frame(batch, columns, first_row)
    finally:
        workbook.close()


def _frame(batch: list[list], columns: list[str], first_row: int) -> pd.DataFrame:
    # dtype=object: pandas 3 would otherwise infer its str dtype (with pyarrow installed) and
    # turn the NonText cells below into plain strings, so numbers would read as report text.
    return pd.DataFrame(batch, columns=columns, index=range(first_row, first_row + len(batch)), dtype=object)


def _cell_text(value):
    """Strings stay strings; numbers and dates are kept as their text but marked non-text."""
    if value is None or isinstance(value, str):
        return value
    return NonText(value)


class NonText(str):
    """A non-text cell, kept as its string form but recognisable as not a report."""

    def __new__(cls, value):
        obj = super().__new__(cls, str(value))
        obj.original = value
        return obj


def is_text_cell(value) -> bool:
    return isinstance(value, str) and not isinstance(value, NonText) and bool(value.strip())


def choose_column(path: Path, columns: Sequence[str], wanted: str | None, names: Sequence[str],
                  what: str, sample: pd.DataFrame | None = None) -> str | None:
    """The named column, or the first of ``names`` present; for ``what='text'`` the one
    column of long text; a clear error otherwise."""
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
