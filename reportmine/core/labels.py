"""The label vocabulary shared by report mining, the statistics, Y-Net and the comparison.

Every reader of a label (a manifest, a calculator's column, an array handed to the statistics)
goes through :func:`label_index` / :func:`label_codes`, so one spelling works everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BENIGN = "benign"
MALIGNANT = "malignant"
INDETERMINATE = "indeterminate"

#: Class names in the order of the network's output (index 0 = benign, 1 = malignant).
CLASS_NAMES = (BENIGN, MALIGNANT)
#: Report labels: the two classes plus indeterminate.
REPORT_LABELS = (MALIGNANT, BENIGN, INDETERMINATE)

POSITIVE_WORDS = frozenset({"1", "1.0", "malignant", "positive", "pos", "true", "yes", "m", "+"})
NEGATIVE_WORDS = frozenset({"0", "0.0", "benign", "negative", "neg", "false", "no", "b", "-"})
INDETERMINATE_WORDS = frozenset({"indeterminate", "equivocal", "uncertain", "i", "?"})


def label_index(value) -> int | None:
    """1 for a malignant/positive spelling, 0 for benign/negative, None for anything else."""
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in POSITIVE_WORDS:
        return 1
    if text in NEGATIVE_WORDS:
        return 0
    return None


def report_label(value) -> str | None:
    """'malignant', 'benign' or 'indeterminate' for any of their spellings (1/0 too), else None."""
    if str(value).strip().lower() in INDETERMINATE_WORDS:
        return INDETERMINATE
    index = label_index(value)
    return None if index is None else CLASS_NAMES[index]


#: A report's call as a number: 1 malignant, 0 benign, -1 indeterminate.
REPORT_CALLS = {MALIGNANT: 1, BENIGN: 0, INDETERMINATE: -1}


def report_call(value) -> int | None:
    """1, 0 or -1 for a malignant, benign or indeterminate spelling (:func:`report_label`), else None."""
    label = report_label(value)
    return None if label is None else REPORT_CALLS[label]


def label_name(index: int) -> str:
    """'malignant' for 1, 'benign' for 0."""
    return CLASS_NAMES[int(index)]


#: :func:`label_codes` without indeterminate allowed names the values it accepts as this …
BINARY_SPELLINGS = "1/0 or malignant/benign"
#: … and with indeterminate allowed, as this.
CALL_SPELLINGS = "1/0, malignant/benign or indeterminate"


class LabelError(ValueError):
    """A value outside the vocabulary; ``position`` is its 0-based place, ``value`` the value
    (None when missing), so that a reader of a file can name its row and column instead."""

    def __init__(self, message: str, position: int, value) -> None:
        super().__init__(message)
        self.position = position
        self.value = value


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def label_codes(values: Sequence, what: str = "labels", *, indeterminate: bool = False) -> np.ndarray:
    """1 (malignant/positive), 0 (benign/negative) and, where ``indeterminate`` is allowed, -1
    per value, as an int8 array; :class:`LabelError` names the first value outside the vocabulary.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = np.asarray(list(values), dtype=object)
    if arr.dtype.kind in "biu":  # numbers: 0 and 1 only (-1 is a code, not a spelling)
        bad = np.flatnonzero((arr != 0) & (arr != 1))
        if bad.size:
            i = int(bad[0])
            raise LabelError(f"{what}: unrecognised value {arr[i].item()!r} at position {i} (not 0/1)",
                             i, arr[i].item())
        return arr.astype(np.int8)
    out = np.empty(arr.shape[0], dtype=np.int8)
    for i, value in enumerate(arr.tolist()):
        if _missing(value):
            raise LabelError(f"{what}: missing value at position {i}", i, None)
        code = label_index(value)
        if code is None and indeterminate and str(value).strip().lower() in INDETERMINATE_WORDS:
            code = REPORT_CALLS[INDETERMINATE]
        if code is None:
            allowed = CALL_SPELLINGS if indeterminate else BINARY_SPELLINGS
            raise LabelError(f"{what}: unrecognised value {value!r} at position {i} (not {allowed})", i, value)
        out[i] = code
    return out
