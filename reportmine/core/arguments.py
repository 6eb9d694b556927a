"""Command-line arguments shared by the three tools: checked numbers and the one parse step.

Every numeric option goes through :func:`whole` or :func:`real`, so a bad value (text, NaN,
infinity, out of range) is refused by argparse with one line naming the option, and
:func:`parse_command_line` turns argparse's exit into an exit status instead of raising.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from .errors import ArgumentParser  # noqa: F401 (the CLIs' parser class, re-exported here)


def whole(at_least: int = 0, at_most: int | None = None, *, what: str = ""):
    """An argparse type: a whole number in [at_least, at_most]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < at_least or (at_most is not None and value > at_most):
            bound = f"from {at_least} to {at_most:,}" if at_most is not None else f"at least {at_least}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}{what}")
        return value
    return parse


def real(low: float = -math.inf, high: float = math.inf, *, open_low: bool = False,
         open_high: bool = False):
    """An argparse type: a finite number in the interval (open or closed at each end)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        above = value > low if open_low else value >= low
        below = value < high if open_high else value <= high
        if not (above and below):
            left, right = "(" if open_low else "[", ")" if open_high else "]"
            raise argparse.ArgumentTypeError(f"{text!r} must lie in {left}{low:g}, {high:g}{right}")
        return value
    return parse


def add_seed(parser: argparse.ArgumentParser) -> None:
    """``--seed``: a random seed, 0 to 2^32 − 1 (what numpy and torch accept), default 0."""
    parser.add_argument("--seed", type=whole(0, 2**32 - 1), default=0, help="random seed, 0 to 2^32 − 1 (default 0)")


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on every subcommand, nested ones too (``reportmine dictionary check --debug``)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for subparser in action.choices.values():
            subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                   help=argparse.SUPPRESS)
            _debug_everywhere(subparser)


def parse_command_line(parser: argparse.ArgumentParser, argv: Sequence[str] | None):
    """The parsed arguments, or the exit status argparse chose (2 for a usage error, 0 for
    --help). ``--debug`` is accepted after the subcommand too."""
    _debug_everywhere(parser)
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
