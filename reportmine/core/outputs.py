"""The one output policy of the toolkit.

* **Atomic files.** Every file is written under a temporary name in its final folder and
  renamed into place when complete; on any failure (an exception, Ctrl-C, SIGTERM through
  :func:`reportmine.core.errors.run_command`) the temporary file is removed.
* **Folder outputs** (:class:`FolderOutput`) are staged in a temporary sibling folder and
  renamed at the end. An existing folder is used only when it is empty or holds nothing but
  an earlier output of the same command (recognised by the marker file that lists what it
  wrote); replacing that earlier output needs ``force``; foreign files are never touched.
* **Never an input.** No file a command writes may resolve to one of its inputs (resolved
  paths and inodes are compared, symlinks included) or lie outside its output folder; file
  names derived from data (a node id) go through :func:`safe_filename`.
* **Readable by colleagues.** Files and folders get the permissions the umask gives, as any
  other tool's (``mkstemp`` alone would leave them 0600).
* **Spreadsheet safety.** Cells starting with ``= + - @`` (or tab / CR) are escaped with a
  leading apostrophe (OWASP CSV injection).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from .errors import InputError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MARKER = ".reportmine-output.json"
TEMP_PREFIX = ".tmp-"


def escape_cell(value):
    """Neutralise spreadsheet formulas in untrusted text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def unescape_cell(value):
    """Undo :func:`escape_cell` (``'=x`` → ``=x``) on a value read back from our own output."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open`` / ``mkdir`` would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def json_safe(value):
    """Non-finite floats become None (JSON has no NaN); numpy scalars become plain numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------ checking targets

def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_targets(outputs: Iterable[str | Path], inputs: Iterable[str | Path] = (), *,
                  root: str | Path | None = None) -> None:
    """Refuse (one line) an output that is an input, a folder, or outside ``root``."""
    inputs = [Path(p) for p in inputs if p is not None]
    root_resolved = Path(root).resolve() if root is not None else None
    for out in (Path(p) for p in outputs):
        for source in inputs:
            if _same_file(out, source):
                raise InputError(f"{out}: would overwrite the input {source}; choose another output")
        if out.is_dir():
            raise InputError(f"{out}: is a folder; give a file name")
        if root_resolved is not None:
            try:
                out.resolve().relative_to(root_resolved)
            except ValueError:
                raise InputError(f"{out}: lies outside the output folder {root}") from None


def check_writable_folder(folder: str | Path) -> None:
    """A clear error unless ``folder`` exists, is a folder and can be written."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder}: output folder does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder}: is a file, expected a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{folder}: output folder is not writable")


_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def safe_filename(name: str, used: set[str] | None = None, *, max_len: int = 100) -> str:
    """A file name made from untrusted text: no separators, no leading dots, not empty,
    at most ``max_len`` characters, and (with ``used``) unique case-insensitively."""
    text = unicodedata.normalize("NFKC", str(name))
    text = _UNSAFE.sub("_", text).strip("._") or "item"
    text = text[:max_len]
    if used is None:
        return text
    candidate, n = text, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{text}_{n}"
    used.add(candidate.lower())
    return candidate


# ------------------------------------------------------------------ atomic files

@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place if the block succeeds."""
    target = Path(target)
    check_writable_folder(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_json_atomic(path: str | Path, payload) -> None:
    """Strict JSON (non-finite numbers written as null), atomically."""
    text = json.dumps(json_safe(payload), ensure_ascii=False, indent=2, default=str, allow_nan=False)
    write_text_atomic(path, text + "\n")


def write_csv_atomic(path: str | Path, frame) -> None:
    """A pandas DataFrame as UTF-8 CSV (BOM for Excel), text cells formula-escaped."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(escape_cell)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False, encoding="utf-8-sig")


# ------------------------------------------------------------------ tables

def _plain(value):
    """A cell value openpyxl and csv accept: plain numbers and strings (str subclasses too)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    return str(value)


def cell_values(columns: Sequence[str], rows: Sequence[dict]) -> list[list]:
    """The cells :meth:`AtomicTableWriter.write` writes for ``rows``: in column order, plain
    and formula-escaped."""
    return [[escape_cell(_plain(row.get(c, ""))) for c in columns] for row in rows]


class AtomicTableWriter:
    """Write one or more sheets (xlsx) or one CSV per sheet, renamed into place at the end.

    For CSV output the first sheet goes to ``path`` and each further sheet to
    ``path.with_suffix('.<sheet>.csv')``. Every file it will write is checked against the
    ``protect``-ed inputs before anything is written.
    """

    def __init__(self, path: str | Path, sheets: dict[str, Sequence[str]], *, protect: Sequence[Path] = ()):
        self.path = Path(path)
        self.format = self.path.suffix.lower()
        if self.format not in (".csv", ".xlsx"):
            raise InputError(f"{self.path}: output must end in .csv or .xlsx")
        self.sheets = {name: list(columns) for name, columns in sheets.items()}
        check_writable_folder(self.path.parent)
        check_targets(self.targets(), protect)
        self._tmp: dict[str, Path] = {}
        self._targets: dict[str, Path] = {}

    def sheet_path(self, name: str) -> Path:
        first = next(iter(self.sheets))
        if self.format == ".xlsx" or name == first:
            return self.path
        return self.path.with_suffix(f".{name}.csv")

    def targets(self) -> list[Path]:
        """Every file this writer will create."""
        return sorted({self.sheet_path(name) for name in self.sheets})

    def __enter__(self) -> AtomicTableWriter:
        try:
            if self.format == ".xlsx":
                from openpyxl import Workbook

                self._workbook = Workbook(write_only=True)
                self._ws = {}
                for name, columns in self.sheets.items():
                    ws = self._workbook.create_sheet(name)
                    ws.append(columns)
                    self._ws[name] = ws
                fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".xlsx", dir=self.path.parent)
                os.close(fd)
                self._tmp["*"] = Path(tmp)
            else:
                self._handles = {}
                self._writers = {}
                for name, columns in self.sheets.items():
                    target = self.sheet_path(name)
                    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".csv", dir=target.parent)
                    self._tmp[name] = Path(tmp)
                    handle = os.fdopen(fd, "w", encoding="utf-8-sig", newline="")
                    self._handles[name] = handle
                    self._writers[name] = csv.writer(handle)
                    self._writers[name].writerow(columns)
                    self._targets[name] = target
        except BaseException:
            self.__exit__(*([RuntimeError] * 3))
            raise
        return self

    def write(self, sheet: str, rows: Sequence[dict]) -> None:
        self.write_cells(sheet, cell_values(self.sheets[sheet], rows))

    def write_cells(self, sheet: str, values: Sequence[Sequence]) -> None:
        """Rows already made by :func:`cell_values` (worker processes make them in parallel)."""
        if self.format == ".xlsx":
            for row in values:
                self._ws[sheet].append(row)
        else:
            self._writers[sheet].writerows(values)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.format == ".xlsx":
                if exc_type is None:
                    self._workbook.save(self._tmp["*"])
                    apply_umask(self._tmp["*"])
                    os.replace(self._tmp["*"], self.path)
                elif hasattr(self, "_workbook"):
                    for ws in self._workbook.worksheets:  # removes openpyxl's own temp files
                        with contextlib.suppress(Exception):
                            ws.close()
            else:
                for handle in getattr(self, "_handles", {}).values():
                    handle.close()
                if exc_type is None:
                    for name, tmp in self._tmp.items():
                        apply_umask(tmp)
                        os.replace(tmp, self._targets[name])
        finally:
            for tmp in self._tmp.values():
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


# ------------------------------------------------------------------ folder outputs

def _listing(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def earlier_output_of(folder: str | Path) -> str | None:
    """The command that wrote ``folder`` (from its marker), if it holds nothing else."""
    folder = Path(folder)
    marker = folder / MARKER
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        listed = set(record["files"])
        command = str(record["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    present = _listing(folder) - {MARKER}
    return command if present <= listed else None


class FolderOutput:
    """A folder a command writes as a whole, staged and renamed into place.

    ``with FolderOutput(out, "benchmark compare", force=..., inputs=[...]) as stage:`` —
    write everything under ``stage``; on success the marker is added and the folder renamed
    to ``out`` (an earlier output of the same command moved aside and removed only then);
    on failure the stage is removed and ``out`` is untouched.
    """

    def __init__(self, path: str | Path, command: str, *, force: bool = False,
                 inputs: Iterable[str | Path] = ()):
        self.path = Path(path)
        self.command = command
        if self.path.name in ("", ".", ".."):
            self.path = self.path.resolve()
        parent = self.path.parent
        if not parent.exists():
            raise InputError(f"{self.path}: its parent folder {parent} does not exist")
        check_writable_folder(parent)
        resolved = self.path.resolve()
        for source in (Path(p) for p in inputs if p is not None):
            try:
                source.resolve().relative_to(resolved)
            except ValueError:
                continue
            raise InputError(f"{self.path}: holds the input {source}; choose a new output folder")
        self.replaces = False
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_dir() or self.path.is_symlink():
                raise InputError(f"{self.path}: exists and is not a folder; choose a new output folder")
            if any(self.path.iterdir()):
                earlier = earlier_output_of(self.path)
                if earlier != command:
                    raise InputError(f"{self.path}: folder holds other files; {command} writes only to a "
                                     f"new or empty folder, or over its own earlier output")
                if not force:
                    raise InputError(f"{self.path}: holds an earlier {command} output; pass --force to replace it")
                self.replaces = True
        self.stage: Path | None = None

    def __enter__(self) -> Path:
        self.stage = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{self.path.name}-", dir=self.path.parent))
        return self.stage

    def __exit__(self, exc_type, exc, tb) -> None:
        stage = self.stage
        try:
            if exc_type is not None:
                return
            files = sorted(_listing(stage))
            (stage / MARKER).write_text(json.dumps({
                "command": self.command, "files": files,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=1),
                encoding="utf-8")
            for p in [stage, *stage.rglob("*")]:
                apply_umask(p, directory=p.is_dir())
            if self.path.exists():
                old = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}old-", dir=self.path.parent))
                old.rmdir()
                self.path.rename(old)
                try:
                    stage.rename(self.path)
                except BaseException:
                    old.rename(self.path)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                stage.rename(self.path)
        finally:
            if stage is not None and stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
