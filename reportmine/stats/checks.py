"""The statistics' one set of argument checks: counts, 0/1 arrays, finite scores, labels.

Every public function of :mod:`reportmine.stats` checks its arguments through these, so a bad
count or array is refused with the same one line (naming the argument and the first bad
position) wherever it is passed. Label spellings are :mod:`reportmine.core.labels`'.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.labels import label_codes


def count(value, name: str) -> int:
    """``value`` as an int; ValueError unless it is a non-negative whole number (True is not 1)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a non-negative whole number, got {value!r}")
    try:
        whole = float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or value < 0:
        raise ValueError(f"{name} must be a non-negative whole number, got {value!r}")
    return int(value)


def zero_one(values: Sequence, what: str) -> np.ndarray:
    """A float64 array of 0s and 1s; ValueError naming the first other value."""
    arr = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero((arr != 0) & (arr != 1))
    if bad.size:
        raise ValueError(f"{what}: value {arr[bad[0]]!r} at position {bad[0]} is not 0/1")
    return arr


def finite(values: Sequence, what: str = "scores") -> np.ndarray:
    """A float64 array of finite numbers; ValueError naming the first other value."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: not numeric ({exc})") from exc
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{what}: value {arr[bad[0]]} at position {bad[0]} is not a finite number")
    return arr


def labels(values: Sequence, what: str = "labels", *, indeterminate: bool = False) -> np.ndarray:
    """1 / 0 (and -1 for an indeterminate call where allowed) per value, int8, from any spelling
    of :mod:`reportmine.core.labels`; ValueError naming the first other value."""
    return label_codes(values, what, indeterminate=indeterminate)
