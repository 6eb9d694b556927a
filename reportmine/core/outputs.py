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
import io
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


def unescape_frame(frame):
    """A copy of ``frame`` with :func:`unescape_cell` applied to every cell (a table read back
    from our own output, or from any spreadsheet: a leading apostrophe is Excel's text marker)."""
    frame = frame.copy()
    for column in frame.columns:
        frame[column] = frame[column].map(unescape_cell)
    return frame


INPUT_PREFIX = "input_"


def carried_names(columns, ours) -> list[tuple[object, str]]:
    """(input column, output name) for input columns kept beside our own columns ``ours``: a
    name that is one of ours (or already taken) is kept as ``input_<name>`` (``input_label``)."""
    taken = set(ours)
    kept = []
    for column in columns:
        out = str(column)
        while out in taken:
            out = INPUT_PREFIX + out
        taken.add(out)
        kept.append((column, out))
    return kept


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open`` / ``mkdir`` would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def json_safe(value):
    """Non-finite floats become None (JSON has no NaN); numpy scalars and arrays become plain
    numbers and lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, set | frozenset):
        return [json_safe(v) for v in sorted(value, key=str)]
    if isinstance(value, Path):
        return str(value)
    if getattr(value, "ndim", None) is not None and callable(getattr(value, "tolist", None)):
        value = value.tolist()  # numpy scalar or array
        return json_safe(value) if isinstance(value, list) else json_safe_scalar(value)
    return json_safe_scalar(value)


def json_safe_scalar(value):
    """A non-finite float becomes None; anything else is returned as it is."""
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
    """Refuse (one line) an output that is an input, a folder or a special file, or that lies
    outside ``root``. Call it with every file a command will write, before writing any."""
    inputs = [Path(p) for p in inputs if p is not None]
    root_resolved = Path(root).resolve() if root is not None else None
    for out in (Path(p) for p in outputs):
        for source in inputs:
            if _same_file(out, source):
                raise InputError(f"{out}: would overwrite the input {source}; choose another output")
        if out.is_dir():
            raise InputError(f"{out}: is a folder; give a file name")
        if out.exists() and not out.is_file():
            raise InputError(f"{out}: is not a regular file (a device or pipe); give a file name")
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
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)  # Windows devices


def safe_filename(name: str, used: set[str] | None = None, *, max_len: int = 100) -> str:
    """A file name made from untrusted text (a node id): no separators, no leading dots or
    dashes, not empty, not a Windows device name, at most ``max_len`` characters, and (with
    ``used``, the lower-cased names taken so far) unique case-insensitively."""
    text = unicodedata.normalize("NFKC", str(name))
    text = _UNSAFE.sub("_", text).strip("._-") or "item"
    if _RESERVED.match(text):
        text = "_" + text
    text = text[:max_len]
    if used is None:
        return text
    candidate, n = text, 1
    while candidate.lower() in used:
        n += 1
        suffix = f"_{n}"
        candidate = text[: max_len - len(suffix)] + suffix
    used.add(candidate.lower())
    return candidate


# ------------------------------------------------------------------ atomic files

def _mkstemp(folder: Path, suffix: str) -> Path:
    """An empty temporary file in ``folder`` (closed), or one line saying why not."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=folder)
    except OSError as exc:
        raise InputError(f"{folder}: cannot write in this folder ({exc.strerror or type(exc).__name__})") from exc
    os.close(fd)
    return Path(tmp)


def _replace(tmp: Path, target: Path) -> None:
    apply_umask(tmp)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"{target}: cannot be written ({exc.strerror or type(exc).__name__})") from exc


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place if the block succeeds.

    The temporary file is removed on any failure, Ctrl-C and SIGTERM (through
    :func:`~reportmine.core.errors.run_command`) included.
    """
    target = Path(target)
    check_writable_folder(target.parent)
    check_targets([target])
    tmp_path = _mkstemp(target.parent, target.suffix)
    try:
        yield tmp_path
        _replace(tmp_path, target)
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


def write_csv(path: str | Path, frame) -> None:
    """A pandas DataFrame as UTF-8 CSV (BOM for Excel), text cells formula-escaped; to a
    temporary path of :func:`atomic_path` (use :func:`write_csv_atomic` otherwise)."""
    import pandas as pd

    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(escape_cell)
    safe.to_csv(path, index=False, encoding="utf-8-sig")


def write_csv_atomic(path: str | Path, frame) -> None:
    """A pandas DataFrame as UTF-8 CSV (BOM for Excel), text cells formula-escaped, atomically."""
    with atomic_path(path) as tmp:
        write_csv(tmp, frame)


# ------------------------------------------------------------------ tables

def _plain(value):
    """A cell value openpyxl and csv accept: plain numbers and strings (str subclasses too)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    return str(value)


def _discard_workbook(workbook) -> None:
    """Remove the temporary files a write-only openpyxl workbook keeps in $TMPDIR (openpyxl
    removes them only on save or at interpreter exit)."""
    for ws in workbook.worksheets:
        with contextlib.suppress(Exception):
            ws.close()  # finishes the sheet's XML stream, so nothing writes to it later
        writer = getattr(ws, "_writer", None)
        out = getattr(writer, "out", None)
        if isinstance(out, str):
            with contextlib.suppress(OSError, ValueError):
                writer.cleanup()
            with contextlib.suppress(OSError):
                os.remove(out)


def cell_values(columns: Sequence[str], rows: Sequence[dict]) -> list[list]:
    """The cells :meth:`AtomicTableWriter.write` writes for ``rows``: in column order, plain
    and formula-escaped."""
    return [[escape_cell(_plain(row.get(c, ""))) for c in columns] for row in rows]


def csv_text(values: Sequence[Sequence]) -> str:
    """Rows of cells (from :func:`cell_values`) as the CSV text :class:`AtomicTableWriter`
    writes for them: one string is much cheaper to hand between processes than the cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(values)
    return buffer.getvalue()


class AtomicTableWriter:
    """Write one or more sheets (xlsx) or one CSV per sheet, renamed into place at the end.

    For CSV output the first sheet goes to ``path`` and each further sheet to
    ``path.with_suffix('.<sheet>.csv')``. Every file it will write (and any ``companions``
    the caller writes beside it, such as a run record) is checked against the ``protect``-ed
    inputs before anything is written. On failure nothing is left: neither the temporary
    files beside the output nor openpyxl's in $TMPDIR.
    """

    def __init__(self, path: str | Path, sheets: dict[str, Sequence[str]], *,
                 protect: Sequence[str | Path] = (), companions: Sequence[str | Path] = ()):
        self.path = Path(path)
        self.format = self.path.suffix.lower()
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder; give a file name ending in .csv or .xlsx")
        if self.format not in (".csv", ".xlsx"):
            raise InputError(f"{self.path}: output must end in .csv or .xlsx")
        self.sheets = {name: list(columns) for name, columns in sheets.items()}
        check_writable_folder(self.path.parent)
        check_targets([*self.targets(), *companions], protect)
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

                self._tmp["*"] = _mkstemp(self.path.parent, ".xlsx")
                self._workbook = Workbook(write_only=True)
                self._ws = {}
                for name, columns in self.sheets.items():
                    ws = self._workbook.create_sheet(name)
                    ws.append(columns)
                    self._ws[name] = ws
            else:
                self._handles = {}
                self._writers = {}
                for name, columns in self.sheets.items():
                    target = self.sheet_path(name)
                    self._tmp[name] = _mkstemp(target.parent, ".csv")
                    handle = open(self._tmp[name], "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
                    self._handles[name] = handle
                    self._writers[name] = csv.writer(handle)
                    self._writers[name].writerow(columns)
                    self._targets[name] = target
        except BaseException:
            self.__exit__(RuntimeError, RuntimeError(), None)
            raise
        return self

    def write(self, sheet: str, rows: Sequence[dict]) -> None:
        self.write_cells(sheet, cell_values(self.sheets[sheet], rows))

    def write_csv_text(self, sheet: str, text: str) -> None:
        """CSV rows already encoded by :func:`csv_text` (a worker process made them)."""
        if self.format != ".csv":
            raise ValueError("encoded CSV text can only go to a CSV output")
        self._handles[sheet].write(text)

    def write_cells(self, sheet: str, values: Sequence[Sequence]) -> None:
        """Rows already made by :func:`cell_values` (worker processes make them in parallel)."""
        if self.format == ".xlsx":
            for row in values:
                self._ws[sheet].append(row)
        else:
            self._writers[sheet].writerows(values)

    def add_json(self, path: str | Path, payload) -> None:
        """Stage a JSON companion (one of ``companions``), renamed into place with the tables."""
        path = Path(path)
        tmp = _mkstemp(path.parent, ".json")
        self._tmp[f"json:{path}"] = tmp
        self._targets[f"json:{path}"] = path
        tmp.write_text(json.dumps(json_safe(payload), ensure_ascii=False, indent=2, default=str,
                                  allow_nan=False) + "\n", encoding="utf-8")

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.format == ".xlsx":
                workbook = getattr(self, "_workbook", None)
                if exc_type is None:
                    try:
                        workbook.save(self._tmp["*"])
                    finally:
                        _discard_workbook(workbook)
                    for key, tmp in self._tmp.items():
                        _replace(tmp, self.path if key == "*" else self._targets[key])
                elif workbook is not None:
                    _discard_workbook(workbook)
            else:
                for handle in getattr(self, "_handles", {}).values():
                    handle.close()
                if exc_type is None:
                    for name, tmp in self._tmp.items():
                        _replace(tmp, self._targets[name])
        finally:
            for tmp in self._tmp.values():
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


# ------------------------------------------------------------------ folder outputs

def _listing(folder: Path, skip: Iterable[Path] = ()) -> set[str]:
    """Every non-folder entry under ``folder`` (symlinks are listed, never followed), except
    what lies under ``skip``."""
    skip = {Path(p) for p in skip}
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        dirnames[:] = [d for d in dirnames if base / d not in skip]
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            found.add((base / name).relative_to(folder).as_posix())
    return found


def earlier_output_of(folder: str | Path, skip: Iterable[Path] = ()) -> str | None:
    """The command that wrote ``folder`` (from its marker), if it holds nothing else (what
    lies under ``skip``, our own staging folder, aside)."""
    folder = Path(folder)
    marker = folder / MARKER
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        listed = {str(f) for f in record["files"]}
        command = str(record["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    present = _listing(folder, skip) - {MARKER}
    return command if present <= listed else None


def add_to_folder_output(path: str | Path) -> None:
    """Record ``path`` as part of the folder output it lies in (a screenshot added to a page
    folder), so that the folder still counts as that command's earlier output. No-op outside
    a folder output."""
    path = Path(path)
    marker = path.parent / MARKER
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        files = set(record["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    record["files"] = sorted(files | {path.name})
    write_text_atomic(marker, json.dumps(record, indent=1) + "\n")


class FolderOutput:
    """A folder a command writes as a whole, staged and moved into place at the end.

    ``with FolderOutput(out, "benchmark compare", force=..., inputs=[...]) as stage:`` —
    write everything under ``stage``; on success the marker (the command and the files it
    wrote) is added and the files appear in ``out``; on failure the stage is removed and
    ``out`` is untouched.

    * ``out`` missing: the stage is made beside it and renamed to ``out`` (missing parent
      folders are created, and removed again on failure);
    * ``out`` empty: the staged files are moved into it (the folder itself, its permissions
      and a shell sitting in it, as with ``--out .``, are kept);
    * ``out`` holding an earlier output of the same command: replaced only with ``force``;
      the earlier files are moved aside and deleted only after the new ones are in place;
    * anything else (a file, a symlink, a folder with other files, a folder holding one of
      the ``inputs``): refused with one line before anything is written.
    """

    def __init__(self, path: str | Path, command: str, *, force: bool = False,
                 inputs: Iterable[str | Path] = ()):
        self.given = Path(path)
        self.path = Path(os.path.abspath(self.given))
        self.command = command
        self.force = force
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            raise InputError(f"{self.given}: exists and is not a folder; choose a new output folder")
        resolved = self.path.resolve()
        for source in (Path(p) for p in inputs if p is not None):
            source_resolved = source.resolve()
            if source_resolved == resolved or resolved in source_resolved.parents:
                raise InputError(f"{self.given}: holds the input {source}; choose a new output folder")
        self.exists = self.path.is_dir()
        if self.exists:
            check_writable_folder(self.path)
            self._check_replaceable()
        else:
            existing = next((p for p in self.path.parents if p.exists()), None)
            if existing is None or not existing.is_dir():
                raise InputError(f"{self.given}: its parent {existing} is not a folder")
            check_writable_folder(existing)
        self.stage: Path | None = None
        self._made_parents: list[Path] = []

    def _check_replaceable(self, skip: Iterable[Path] = ()) -> None:
        skip = set(skip)
        if not any(p not in skip for p in self.path.iterdir()):
            return
        earlier = earlier_output_of(self.path, skip)
        if earlier != self.command:
            raise InputError(f"{self.given}: folder holds other files; {self.command} writes only to a "
                             f"new or empty folder, or over its own earlier output")
        if not self.force:
            raise InputError(f"{self.given}: holds an earlier {self.command} output; "
                             f"pass --force to replace it")

    def __enter__(self) -> Path:
        if self.exists:
            self.stage = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}stage-", dir=self.path))
        else:
            for parent in reversed(self.path.parents):
                if not parent.exists():
                    parent.mkdir()
                    apply_umask(parent, directory=True)
                    self._made_parents.append(parent)
            self.stage = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{self.path.name}-", dir=self.path.parent))
        return self.stage

    def _commit(self, stage: Path) -> None:
        files = sorted(_listing(stage))
        (stage / MARKER).write_text(json.dumps({
            "command": self.command, "files": files,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=1) + "\n",
            encoding="utf-8")
        for p in [*stage.rglob("*"), stage]:
            if not p.is_symlink():
                apply_umask(p, directory=p.is_dir())
        if not self.exists:
            stage.rename(self.path)
            return
        self._check_replaceable([stage])  # again: the folder may have changed while we worked
        trash = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}old-", dir=self.path))
        moved_old, moved_new = [], []
        try:
            for entry in list(self.path.iterdir()):
                if entry not in (stage, trash):
                    entry.rename(trash / entry.name)
                    moved_old.append(entry.name)
            for entry in list(stage.iterdir()):
                entry.rename(self.path / entry.name)
                moved_new.append(entry.name)
        except BaseException:
            for name in moved_new:  # put everything back as it was
                with contextlib.suppress(OSError):
                    (self.path / name).rename(stage / name)
            for name in moved_old:
                with contextlib.suppress(OSError):
                    (trash / name).rename(self.path / name)
            with contextlib.suppress(OSError):
                trash.rmdir()  # only if everything went back
            raise
        shutil.rmtree(trash, ignore_errors=True)  # the earlier output, now replaced

    def __exit__(self, exc_type, exc, tb) -> None:
        stage = self.stage
        try:
            if exc_type is None:
                self._commit(stage)
        finally:
            if stage is not None and stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
            if exc_type is not None or (stage is not None and not self.path.exists()):
                for parent in reversed(self._made_parents):
                    with contextlib.suppress(OSError):
                        parent.rmdir()
