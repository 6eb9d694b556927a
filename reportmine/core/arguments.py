"""Command-line arguments shared by the three tools: checked numbers and the one parse step.

Every numeric option goes through :func:`whole` or :func:`real`, so a bad value (text, NaN,
infinity, out of range) is refused by argparse with one line naming the option, and
:func:`parse_command_line` turns argparse's exit into an exit status instead of raising. A
library call that takes the same settings as numbers (a training configuration) checks them
with :func:`check_whole` and :func:`check_real`: the same bounds, the same words.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from .errors import ArgumentParser  # noqa: F401 (the CLIs' parser class, re-exported here)


def _whole_problem(value, at_least: int, at_most: int | None) -> str | None:
    """What is wrong with ``value`` as a whole number in [at_least, at_most], or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "is not a whole number"
    if value < at_least or (at_most is not None and value > at_most):
        bound = f"from {at_least} to {at_most:,}" if at_most is not None else f"at least {at_least}"
        return f"must be {bound}"
    return None


def _real_problem(value, low: float, high: float, open_low: bool, open_high: bool) -> str | None:
    """What is wrong with ``value`` as a finite number in the interval, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if not math.isfinite(value):
        return "is not a finite number"
    above = value > low if open_low else value >= low
    below = value < high if open_high else value <= high
    if not (above and below):
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        return f"must lie in {left}{low:g}, {high:g}{right}"
    return None


def check_whole(name: str, value, at_least: int = 0, at_most: int | None = None) -> int:
    """``value`` if it is a whole number in [at_least, at_most]; else ValueError naming ``name``."""
    problem = _whole_problem(value, at_least, at_most)
    if problem:
        raise ValueError(f"{name} {problem}, got {value!r}")
    return value


def check_real(name: str, value, low: float = -math.inf, high: float = math.inf, *,
               open_low: bool = False, open_high: bool = False) -> float:
    """``value`` if it is a finite number in the interval; else ValueError naming ``name``."""
    problem = _real_problem(value, low, high, open_low, open_high)
    if problem:
        raise ValueError(f"{name} {problem}, got {value!r}")
    return value


def whole(at_least: int = 0, at_most: int | None = None, *, what: str = ""):
    """An argparse type: a whole number in [at_least, at_most]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        problem = _whole_problem(value, at_least, at_most)
        if problem:
            raise argparse.ArgumentTypeError(f"{text!r} {problem}{what}")
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
        problem = _real_problem(value, low, high, open_low, open_high)
        if problem:
            raise argparse.ArgumentTypeError(f"{text!r} {problem}")
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
