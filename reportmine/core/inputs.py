"""Checking an input file before it is opened: a regular file, of a bounded size.

A named pipe (FIFO) blocks a reader forever, ``/dev/zero`` never ends, a socket or a folder
cannot be read as a file: every reader of the toolkit calls :func:`check_input_file` first, so
each of these is one line naming the path, before anything is opened. Readers that read a
whole file into memory pass ``max_bytes``, so a huge file is refused before it is read
instead of exhausting memory. :func:`open_input` opens without blocking and checks the opened
file again (a path swapped for a pipe between the check and the open is still refused).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from .errors import InputError

MiB = 1 << 20
# A JSON record we read back (a run record, a marker, a fold's history) is small; anything
# larger is not one of ours.
MAX_JSON_BYTES = 64 * MiB


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, expected a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def size_text(n: int) -> str:
    """A byte count for a message: 12.3 MiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_input_file(path: str | Path, *, what: str = "file", max_bytes: int | None = None) -> Path:
    """``path`` if it names an existing regular file (symlinks followed) of at most
    ``max_bytes``; else one line naming it (a folder, pipe, device or socket, missing, too
    large)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputError(f"{path}: {what} not found") from None
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: {what} not found (a loop of symbolic links)") from None
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    problem = _kind(info.st_mode)
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError(f"{path}: {size_text(info.st_size)}, more than the {size_text(max_bytes)} a {what} "
                         f"may have")
    return path


def open_input(path: str | Path, *, what: str = "file", max_bytes: int | None = None):
    """A binary file object for ``path``, checked by :func:`check_input_file` and opened
    without blocking (a FIFO swapped in after the check is refused, not waited on)."""
    path = check_input_file(path, what=what, max_bytes=max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        problem = _kind(os.fstat(fd).st_mode)
        if problem is not None:
            raise InputError(f"{path}: {problem}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes_bounded(path: str | Path, max_bytes: int, *, what: str = "file") -> bytes:
    """The whole file, refused (one line) when larger than ``max_bytes``, also when it grows
    while being read."""
    with open_input(path, what=what, max_bytes=max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{path}: more than the {size_text(max_bytes)} a {what} may have")
    return data


def read_json_file(path: str | Path, *, what: str = "JSON record", max_bytes: int = MAX_JSON_BYTES):
    """A JSON file of ours read back (a run record, a marker): bounded and checked; a broken
    one is one line naming it."""
    data = read_bytes_bounded(path, max_bytes, what=what)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not a readable {what} ({type(exc).__name__})") from None
