"""The one output policy of the toolkit.

* **Atomic files.** Every file is written under a temporary name in its final folder and
  renamed into place when complete; on any failure (an exception, Ctrl-C, SIGTERM through
  :func:`reportmine.core.errors.run_command`) the temporary file is removed.
* **Folder outputs** (:class:`FolderOutput`) are staged in a temporary sibling folder and
  renamed at the end. An existing folder is used only when it is empty or holds nothing but
  an earlier output of the same command (recognised by the marker file that lists each file
  it wrote with its size and SHA-256; a file that no longer matches is the user's, and the
  folder is refused); replacing that earlier output needs ``force``; foreign files are never
  touched. A folder written file by file over a long run (``ynet train``) is claimed with
  :func:`claim_folder`: its marker is written first and every atomic write into it is added
  to the marker, so the folder stays recognisable as ours after a crash.
* **Never a user's folder.** The home folder, ``/`` and any folder holding an input are
  refused as output folders (:func:`check_output_folder`).
* **Never an input, never through a link.** No file a command writes may resolve to one of
  its inputs (resolved paths and inodes are compared, symlinks included), be a symbolic
  link, a device or a pipe, or lie outside its output folder; file names derived from data
  (a node id) go through :func:`safe_filename`.
* **Leftovers of a killed run** (``kill -9``, a power cut) are temporary files and folders
  named ``.tmp-<pid>-…``; a later run writing to the same place removes those of processes
  that no longer exist (:func:`clean_leftovers`).
* **Full disks.** An ``OSError`` while writing (no space, quota, read-only file system) is one
  line naming the output; the temporary file is removed, so nothing is half-written.
* **Readable by colleagues.** Files and folders get the permissions the umask gives, as any
  other tool's (``mkstemp`` alone would leave them 0600).
* **Spreadsheet safety.** Cells starting with ``= + - @`` (or tab / CR) are escaped with a
  leading apostrophe (OWASP CSV injection).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from .errors import InputError, signals_deferred

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MARKER = ".reportmine-output.json"
TEMP_PREFIX = ".tmp-"


def escape_cell(value):
    """Neutralise spreadsheet formulas in untrusted text: the one escaping function every CSV
    and workbook writer of the toolkit uses (:func:`write_csv`, :func:`cell_values`)."""
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
        if out.is_symlink():
            raise InputError(f"{out}: is a symbolic link; outputs are never written through a link "
                             f"(give the real path, or another name)")
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


# ------------------------------------------------------------------ leftovers of killed runs

_LEFTOVER = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-")
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO)


def temp_prefix(what: str = "") -> str:
    """The prefix of this process's temporary names: ``.tmp-<pid>-`` (+ ``what-``)."""
    return f"{TEMP_PREFIX}{os.getpid()}-" + (f"{what}-" if what else "")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or not ours to judge: keep its files
    return True


def is_leftover(path: Path) -> bool:
    """A temporary file or folder of ours whose process no longer exists."""
    match = _LEFTOVER.match(path.name)
    return match is not None and not _alive(int(match.group(1)))


def clean_leftovers(folder: str | Path) -> list[str]:
    """Remove the temporary files and folders a killed run of ours left in ``folder``
    (``.tmp-<pid>-…`` of a process that no longer exists); their names."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not is_leftover(entry):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry.name)
    return removed


def write_failed(target: Path, exc: OSError) -> InputError:
    """The one line for an ``OSError`` while writing ``target`` (a full disk, a quota)."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return InputError(f"{target}: cannot be written ({reason}); nothing was written there")


# ------------------------------------------------------------------ atomic files

def _mkstemp(folder: Path, suffix: str) -> Path:
    """An empty temporary file in ``folder`` (closed), or one line saying why not."""
    clean_leftovers(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=suffix, dir=folder)
    except OSError as exc:
        raise InputError(f"{folder}: cannot write in this folder ({exc.strerror or type(exc).__name__})") from exc
    os.close(fd)
    return Path(tmp)


def _replace(tmp: Path, target: Path) -> None:
    apply_umask(tmp)
    if target.is_symlink():  # made a link while we worked: never replaced, never followed
        raise InputError(f"{target}: became a symbolic link while it was written; not replaced")
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"{target}: cannot be written ({exc.strerror or type(exc).__name__})") from exc
    _record_in_claimed_folder(target)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place if the block succeeds.

    The temporary file is removed on any failure, Ctrl-C and SIGTERM (through
    :func:`~reportmine.core.errors.run_command`) included.
    """
    target = Path(target)
    check_writable_folder(target.parent)
    check_targets([target])
    tmp_path = None
    try:
        with signals_deferred():  # made and noted before an interruption can leave it behind
            tmp_path = _mkstemp(target.parent, target.suffix)
        try:
            yield tmp_path
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:
                raise write_failed(target, exc) from exc
            raise
        _replace(tmp_path, target)
    finally:
        if tmp_path is not None:
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


def read_own_csv(path: str | Path, **options):
    """A table written by :func:`write_csv` read back as it was before escaping (the BOM and
    the apostrophes of escaped cells removed); ``options`` go to ``pandas.read_csv``."""
    import pandas as pd

    from .inputs import check_input_file

    return unescape_frame(pd.read_csv(check_input_file(path), encoding="utf-8-sig", **options))


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


def _close_archives(error: BaseException) -> None:
    """Close the zip archives a failed save left open (openpyxl's, on a full disk): otherwise
    their ``__del__`` tries to write again later and prints "Exception ignored" tracebacks."""
    import zipfile

    tb = error.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            archive = value if isinstance(value, zipfile.ZipFile) else getattr(value, "_archive", None)
            if isinstance(archive, zipfile.ZipFile) and archive.fp is not None:
                with contextlib.suppress(Exception):
                    archive.close()
                archive.fp = None
        tb = tb.tb_next


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
        clean_leftovers(self.path.parent)
        check_targets([*self.targets(), *companions], protect)
        self.companions = [Path(p) for p in companions]
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
            with signals_deferred():  # every temporary file (openpyxl's too) noted before a signal
                self._open()
        except BaseException:
            self.__exit__(RuntimeError, RuntimeError(), None)
            raise
        return self

    def _open(self) -> None:
        """The temporary files (and openpyxl's workbook) the tables are written to."""
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
        """Stage a JSON companion (one of ``companions``), renamed into place with the tables. A
        run record (a dict) gets ``outputs``: every file this writer writes, itself included."""
        path = Path(path)
        if isinstance(payload, dict):
            payload = {**payload, "outputs": [str(p) for p in [*self.targets(), *self.companions]]}
        with signals_deferred():
            tmp = _mkstemp(path.parent, ".json")
            self._tmp[f"json:{path}"] = tmp
            self._targets[f"json:{path}"] = path
        tmp.write_text(json.dumps(json_safe(payload), ensure_ascii=False, indent=2, default=str,
                                  allow_nan=False) + "\n", encoding="utf-8")

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._finish(exc_type)
        except OSError as error:
            if error.errno in WRITE_ERRNOS:
                raise write_failed(self.path, error) from error
            raise
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            raise write_failed(self.path, exc) from exc

    def _finish(self, exc_type) -> None:
        try:
            if self.format == ".xlsx":
                workbook = getattr(self, "_workbook", None)
                if exc_type is None:
                    try:
                        workbook.save(self._tmp["*"])
                    except BaseException as error:
                        _close_archives(error)
                        raise
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


def file_record(path: Path) -> dict:
    """What the marker keeps of a file we wrote: its size and SHA-256 (a link: its target)."""
    if path.is_symlink():
        return {"link": os.readlink(path)}
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def _matches(path: Path, recorded) -> bool:
    """Is ``path`` still the file we wrote (same size and hash; a link to the same target)?"""
    if not isinstance(recorded, dict):
        return False
    try:
        if "link" in recorded:
            return path.is_symlink() and os.readlink(path) == recorded["link"]
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size != recorded.get("size"):
            return False
        return file_record(path)["sha256"] == recorded.get("sha256")
    except OSError:
        return False


def read_marker(folder: str | Path) -> dict | None:
    """The marker of a folder output, or None (none, unreadable, forged beyond use, or an old
    marker without sizes and hashes, which cannot tell our files from a user's)."""
    marker = Path(folder) / MARKER
    try:
        info = marker.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MARKER_BYTES:
            return None
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("command"), str)
            and isinstance(record.get("files"), dict)):
        return None
    return record


MAX_MARKER_BYTES = 64 << 20


def earlier_output_of(folder: str | Path, skip: Iterable[Path] = ()) -> str | None:
    """The command that wrote ``folder`` (from its marker), if it holds nothing else: every
    file in it (what lies under ``skip``, our own staging folder, and leftovers of killed runs
    of ours aside) is listed in the marker and still has the size and hash we wrote."""
    folder = Path(folder)
    record = read_marker(folder)
    if record is None:
        return None
    listed = record["files"]
    present = _listing(folder, skip) - {MARKER}
    for name in present:
        if name not in listed or not _matches(folder / name, listed[name]):
            if not any(is_leftover(folder / part) for part in _parents_of(name)):
                return None
    return record["command"]


def _parents_of(relative: str) -> list[str]:
    """'a/b/c.txt' → ['a', 'a/b', 'a/b/c.txt']."""
    parts = relative.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _write_marker(folder: Path, record: dict) -> None:
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    tmp = _mkstemp(folder, ".json")
    try:
        tmp.write_text(text, encoding="utf-8")
        apply_umask(tmp)
        os.replace(tmp, folder / MARKER)
    except OSError as exc:
        raise write_failed(folder / MARKER, exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def add_to_folder_output(path: str | Path) -> None:
    """Record ``path`` (with its size and hash) as part of the folder output it lies in (a
    screenshot added to a page folder), so that the folder still counts as that command's
    earlier output. No-op outside a folder output."""
    path = Path(path)
    record = read_marker(path.parent)
    if record is None:
        return
    record["files"][path.name] = file_record(path)
    _write_marker(path.parent, record)


def _record_in_claimed_folder(target: Path) -> None:
    """After an atomic write: add ``target`` to the marker of the claimed folder it lies in
    (:func:`claim_folder`; the folder itself or the one above), so a crash leaves a folder
    that is still recognisably ours."""
    if target.name == MARKER or any(part.startswith(TEMP_PREFIX) for part in target.parts):
        return
    for folder in (target.parent, target.parent.parent):
        record = read_marker(folder)
        if record is not None:
            if record.get("claimed"):
                record["files"][target.relative_to(folder).as_posix()] = file_record(target)
                _write_marker(folder, record)
            return


def _refuse_user_folder(given: Path, resolved: Path) -> None:
    """The home folder and the file system root are never an output folder."""
    home = Path(os.path.expanduser("~")).resolve()
    if resolved == Path(resolved.anchor):
        raise InputError(f"{given}: is the root of the file system; choose a new output folder")
    if resolved == home:
        raise InputError(f"{given}: is your home folder; choose a new output folder inside it")


def check_output_folder(path: str | Path, command: str, *, inputs: Iterable[str | Path] = (),
                        force: bool = False, existing_ok: bool = False) -> str:
    """Check ``path`` as the output folder of ``command`` before anything is written; return
    ``"new"`` (missing), ``"empty"``, or ``"earlier"`` (an earlier output of ``command``,
    accepted with ``force``; with ``existing_ok`` any existing folder is accepted as it is:
    the caller continues its own run there, recognised by its own record).

    Refused with one line: a file or a symbolic link, the home folder, ``/``, a folder that
    holds (or is) one of ``inputs``, a folder with other files or with a file changed since
    we wrote it, an earlier output without ``force``. Leftovers of killed runs of ours are
    removed first.
    """
    given = Path(path)
    absolute = Path(os.path.abspath(given))
    if absolute.is_symlink() or (absolute.exists() and not absolute.is_dir()):
        raise InputError(f"{given}: exists and is not a folder; choose a new output folder")
    resolved = absolute.resolve()
    _refuse_user_folder(given, resolved)
    for source in (Path(p) for p in inputs if p is not None):
        source_resolved = source.resolve()
        if source_resolved == resolved or resolved in source_resolved.parents:
            raise InputError(f"{given}: holds the input {source}; choose a new output folder")
    if not absolute.is_dir():
        existing = next((p for p in absolute.parents if p.exists()), None)
        if existing is None or not existing.is_dir():
            raise InputError(f"{given}: its parent {existing} is not a folder")
        check_writable_folder(existing)
        return "new"
    check_writable_folder(absolute)
    clean_leftovers(absolute)
    if not any(absolute.iterdir()):
        return "empty"
    if existing_ok:
        return "earlier"
    if earlier_output_of(absolute) != command:
        raise InputError(f"{given}: folder holds other files; {command} writes only to a new or empty "
                         f"folder, or over its own earlier output")
    if not force:
        raise InputError(f"{given}: holds an earlier {command} output; pass --force to replace it")
    return "earlier"


def claim_folder(path: str | Path, command: str) -> Path:
    """Make ``path`` (and missing parents) and mark it as ``command``'s output before the
    first file is written; every later atomic write into it (or into a folder of it) is added
    to the marker with its size and hash. An existing marker of ``command`` is kept (a resumed
    run). Check the folder with :func:`check_output_folder` first."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    record = read_marker(folder)
    if record is None or record["command"] != command:
        record = {"command": command, "files": {}, "claimed": True,
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    record["claimed"] = True
    _write_marker(folder, record)
    return folder


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
    * anything else (a file, a symlink, the home folder, ``/``, a folder with other files or
      with a file changed since we wrote it, a folder holding one of the ``inputs``): refused
      with one line before anything is written (:func:`check_output_folder`).
    """

    def __init__(self, path: str | Path, command: str, *, force: bool = False,
                 inputs: Iterable[str | Path] = ()):
        self.given = Path(path)
        self.path = Path(os.path.abspath(self.given))
        self.command = command
        self.force = force
        self.exists = check_output_folder(self.given, command, inputs=inputs, force=force) != "new"
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
        try:
            with signals_deferred():  # the stage is noted before an interruption can leave it
                self._make_stage()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self.stage

    def _make_stage(self) -> None:
        if self.exists:
            self.stage = Path(tempfile.mkdtemp(prefix=temp_prefix("stage"), dir=self.path))
        else:
            for parent in reversed(self.path.parents):
                if not parent.exists():
                    parent.mkdir()
                    apply_umask(parent, directory=True)
                    self._made_parents.append(parent)
            clean_leftovers(self.path.parent)
            self.stage = Path(tempfile.mkdtemp(prefix=temp_prefix(self.path.name), dir=self.path.parent))

    def _commit(self, stage: Path) -> None:
        files = {name: file_record(stage / name) for name in sorted(_listing(stage))}
        try:
            (stage / MARKER).write_text(json.dumps({
                "command": self.command, "files": files,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise write_failed(self.given, exc) from exc
        for p in [*stage.rglob("*"), stage]:
            if not p.is_symlink():
                apply_umask(p, directory=p.is_dir())
        if not self.exists:
            stage.rename(self.path)
            return
        self._check_replaceable([stage])  # again: the folder may have changed while we worked
        trash = Path(tempfile.mkdtemp(prefix=temp_prefix("old"), dir=self.path))
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
            elif isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
                raise write_failed(self.given, exc) from exc
        finally:
            if stage is not None and stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
            if exc_type is not None or (stage is not None and not self.path.exists()):
                for parent in reversed(self._made_parents):
                    with contextlib.suppress(OSError):
                        parent.rmdir()
