"""Text that reaches a terminal: control characters made visible.

A report, a file name or a dictionary term may hold escape sequences (``ESC [ 2 J`` clears
the screen, ``ESC ] 8`` makes a hidden link) or bidirectional overrides that make a line
read differently from what it holds. Whatever the command-line tools print goes through
:func:`escape_controls` (:func:`reportmine.core.errors.run_command` wraps standard output in
:class:`EscapingStream`), so such characters are shown as ``\\x1b``, ``\\u202e`` and never
acted on. Newlines and tabs are kept: they are the layout of our own tables.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional and zero-width
# format characters that reorder or hide text.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control or reordering character written out (``\\x1b``)."""
    return _CONTROLS.sub(_visible, text)


class EscapingStream:
    """A text stream that escapes control characters in everything written to it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_controls(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):  # flush, fileno, isatty, encoding, … of the wrapped stream
        return getattr(self._stream, name)
