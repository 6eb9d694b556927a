"""The label vocabulary shared by report mining, the statistics, Y-Net and the comparison."""

from __future__ import annotations

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
