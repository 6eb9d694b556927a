"""One error path for every command.

Library code raises :class:`InputError` (or a subclass) for an expected failure, with a
one-line message naming the file, row and column. The command-line tools run their handler
through :func:`run_command`, which turns expected failures (``OSError`` included) into that
line on stderr and exit status 2, an unexpected exception into one line plus a hint to
rerun with ``--debug``, a missing optional dependency into the one ``pip install`` line that
adds it, and SIGTERM into the same clean unwinding as Ctrl-C, so that every ``finally`` block
removes its temporary files.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

from .terminal import EscapingStream, escape_controls

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as `cmd | head` gives any other tool

#: Our own top-level packages: a missing module under these is a broken install, not an extra.
OWN_PACKAGES = frozenset({"reportmine", "ynet"})


class InputError(ValueError):
    """Bad input or an output that may not be written; the message is one line naming the file."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error ("prog: error: message (see prog --help)"), exit 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so cleanup runs as for Ctrl-C."""


def _raise_terminated(signum, frame):  # noqa: ARG001 (signal handler signature)
    raise Terminated()


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGTERM and SIGINT back for the block; they arrive as it ends. A temporary file
    made in the block is thus recorded (for its clean-up) before an interruption can need it:
    between a library creating a file and our noting its name, a signal would leak it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (OSError with its file name)."""
    if isinstance(exc, OSError) and (exc.filename is not None or exc.filename2 is not None):
        # a rename names the target second; that is the file the user asked for
        name = exc.filename2 if exc.filename2 is not None else exc.filename
        return f"{name}: {exc.strerror or type(exc).__name__}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def install_hint(exc: ModuleNotFoundError, extra: str | None) -> str | None:
    """The one line for a missing optional dependency, or None when the missing module is ours
    (a broken install, which stays an internal error)."""
    missing = (exc.name or "").split(".")[0]
    if not missing or missing in OWN_PACKAGES:
        return None
    extra = extra or "all"
    return (f"this command needs the optional package {missing!r}, which is not installed: "
            f'pip install "reportmine[{extra}]"')


def run_command(prog: str, handler: Callable[[], int], *, debug: bool = False,
                expected: tuple[type[BaseException], ...] = (),
                interrupted: str = "temporary files removed, no output written",
                extra: str | None = None) -> int:
    """Run a command's handler with the shared error path; return the exit status.

    ``expected`` adds exception types whose message is already the one line for the user;
    ``interrupted`` is what is said after Ctrl-C or SIGTERM; ``extra`` names the optional
    dependencies the command needs (``pip install "reportmine[EXTRA]"``; default all), said
    when one of them is missing.
    """
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    stdout = sys.stdout
    sys.stdout = EscapingStream(stdout)
    try:
        return handler()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE
    except (InputError, OSError, *expected) as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {escape_controls(one_line(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"{prog}: {what}; {interrupted}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:
        if debug:
            traceback.print_exc()
        hint = install_hint(exc, extra)
        if hint is None:
            tail = "" if debug else " (run with --debug for the traceback)"
            print(f"{prog}: internal error: {type(exc).__name__}: {one_line(exc)}{tail}", file=sys.stderr)
            return 1
        print(f"{prog}: error: {hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: out of memory", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 (the one place that catches the unexpected)
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"{prog}: internal error: {type(exc).__name__}: {escape_controls(one_line(exc))}{hint}",
              file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
