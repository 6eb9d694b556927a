"""One error path for every command.

Library code raises :class:`InputError` (or a subclass) for an expected failure, with a
one-line message naming the file, row and column. The command-line tools run their handler
through :func:`run_command`, which turns expected failures (``OSError`` included) into that
line on stderr and exit status 2, an unexpected exception into one line plus a hint to
rerun with ``--debug``, and SIGTERM into the same clean unwinding as Ctrl-C, so that every
``finally`` block removes its temporary files.
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """Bad input or an output that may not be written; the message is one line naming the file."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so cleanup runs as for Ctrl-C."""


def _raise_terminated(signum, frame):  # noqa: ARG001 (signal handler signature)
    raise Terminated()


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (OSError with its file name)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def run_command(prog: str, handler: Callable[[], int], *, debug: bool = False,
                expected: tuple[type[BaseException], ...] = ()) -> int:
    """Run a command's handler with the shared error path; return the exit status."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        return handler()
    except (InputError, OSError, *expected) as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print(f"{prog}: error: out of memory", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 (the one place that catches the unexpected)
        if debug:
            traceback.print_exc()
        print(f"{prog}: internal error: {type(exc).__name__}: {one_line(exc)} "
              f"(run with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
