"""Where a node statement points: the neck levels and the side it names.

Read from a statement's text only when asked (:class:`~reportmine.mining.statements.NodeStatement`),
with the level and side words of :mod:`reportmine.mining.grammar`.
"""

from __future__ import annotations

from .grammar import (
    BOTH,
    BOTH_ZH,
    EN_LEVEL,
    LEFT,
    LEFT_ZH,
    LEVEL_NUMERALS,
    RIGHT,
    RIGHT_ZH,
    ZH_LEVEL,
)


def levels(text: str) -> tuple[str, ...]:
    """Neck levels named in ``text``, ranges expanded (II–IV → II, III, IV), first mention first."""
    found: list[str] = []
    for pattern in (ZH_LEVEL, EN_LEVEL):
        for m in pattern.finditer(text):
            first, last = m.group(1).upper(), (m.group(2) or m.group(1)).upper()
            if first in LEVEL_NUMERALS and last in LEVEL_NUMERALS:
                lo, hi = sorted((LEVEL_NUMERALS.index(first), LEVEL_NUMERALS.index(last)))
                found.extend(LEVEL_NUMERALS[lo:hi + 1])
    return tuple(dict.fromkeys(found))


def side(text: str) -> str:
    """left | right | bilateral | "" (both sides named, or a word for both, is bilateral)."""
    lowered = text.lower()
    left = LEFT_ZH in text or LEFT.search(lowered) is not None
    right = RIGHT_ZH in text or RIGHT.search(lowered) is not None
    both = BOTH_ZH in text or BOTH.search(lowered) is not None
    if both or (left and right):
        return "bilateral"
    return "left" if left else "right" if right else ""
