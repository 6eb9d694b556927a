"""A factorial reader study checked and arranged: every reader reads every case in every test.

:func:`reader_study` takes the long format (one reading per row: test, reader, case, truth,
rating) and returns the ratings as a tests × readers × cases array. Every refusal is one line
naming the row (``rows`` gives the row names a file shows; by default the position).

Level order follows R's ``factor()``, as MRMCaov does: names that are all numbers are ordered
by value, any other names by their text. Truth is 1/0 (or malignant/benign, positive/negative);
two other numbers, such as 1/2, are read as R reads a two-level factor: the higher is diseased.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...core.labels import label_index


@dataclass(frozen=True)
class ReaderStudy:
    """Ratings of a factorial reader study; ``ratings[t, r, c]`` is test t, reader r, case c."""

    tests: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]
    truth: np.ndarray  # (cases,) 1 = diseased (positive), 0 = non-diseased
    ratings: np.ndarray  # (tests, readers, cases), float

    @property
    def n_positive(self) -> int:
        return int(self.truth.sum())

    @property
    def n_negative(self) -> int:
        return int(self.truth.shape[0] - self.truth.sum())

    def summary(self) -> str:
        return (f"{len(self.tests)} tests × {len(self.readers)} readers × {len(self.cases)} cases "
                f"({self.n_positive} diseased, {self.n_negative} non-diseased)")


def _name(value) -> str | None:
    """A level name as text; None for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def level_order(names) -> tuple[str, ...]:
    """Distinct names in R's factor order: by value when every name is a number, else by text."""
    distinct = set(names)
    try:
        values = {name: float(name) for name in distinct}
    except ValueError:
        return tuple(sorted(distinct))
    if all(math.isfinite(v) for v in values.values()):
        return tuple(sorted(distinct, key=lambda name: (values[name], name)))
    return tuple(sorted(distinct))


def _truth_value(value) -> int | None:
    if isinstance(value, float) and math.isnan(value):
        return None
    return label_index(value)


def _truth_coder(values: list):
    """value -> 1/0/None: the label vocabulary (1/0, malignant/benign, …); failing that, two
    distinct numbers such as 1/2, the higher one diseased (R's highest factor level)."""
    if all(_truth_value(v) is not None for v in values):
        return _truth_value
    numbers = {_rating_value(v) for v in values}
    if len(numbers) == 2 and all(math.isfinite(x) for x in numbers):
        high = max(numbers)
        return lambda value: int(_rating_value(value) == high)
    return _truth_value


def _rating_value(value) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def reader_study(test: Sequence, reader: Sequence, case: Sequence, truth: Sequence, rating: Sequence, *,
                 rows: Sequence | None = None, binary_ratings: bool = False) -> ReaderStudy:
    """Check the long-format readings and arrange them; ``binary_ratings`` asks for 0/1 reads
    (1/0, positive/negative or malignant/benign spellings) instead of numeric ratings."""
    columns = [list(test), list(reader), list(case), list(truth), list(rating)]
    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise ValueError(f"test, reader, case, truth and rating differ in length ({', '.join(str(len(c)) for c in columns)})")
    if n == 0:
        raise ValueError("no readings")
    names = list(rows) if rows is not None else [f"{i + 1}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"rows has {len(names)} names for {n} readings")

    ids = [[], [], []]
    for what, values, out in (("test", columns[0], ids[0]), ("reader", columns[1], ids[1]),
                              ("case", columns[2], ids[2])):
        for i, value in enumerate(values):
            name = _name(value)
            if name is None:
                raise ValueError(f"row {names[i]}: empty {what}")
            out.append(name)
    tests, readers, cases = (level_order(v) for v in ids)
    if len(tests) < 2:
        raise ValueError(f"only one test ({tests[0]!r}); an MRMC comparison needs at least two tests")
    if len(readers) < 2:
        raise ValueError(f"only one reader ({readers[0]!r}); an MRMC analysis needs at least two readers "
                         f"(for one reader use the paired DeLong test, `benchmark roc`)")

    t_index = {name: k for k, name in enumerate(tests)}
    r_index = {name: k for k, name in enumerate(readers)}
    c_index = {name: k for k, name in enumerate(cases)}
    ratings = np.full((len(tests), len(readers), len(cases)), np.nan)
    first_row = np.full(ratings.shape, -1, dtype=np.int64)
    case_truth = np.full(len(cases), -1, dtype=np.int64)
    case_row = np.full(len(cases), -1, dtype=np.int64)
    truth_code = _truth_coder(columns[3])
    for i in range(n):
        label = truth_code(columns[3][i])
        if label is None:
            raise ValueError(f"row {names[i]}: truth {columns[3][i]!r} is not 1/0 or malignant/benign")
        if binary_ratings:
            read = _truth_value(columns[4][i])
            if read is None:
                raise ValueError(f"row {names[i]}: rating {columns[4][i]!r} is not a binary read "
                                 f"(1/0, positive/negative or malignant/benign)")
            value = float(read)
        else:
            value = _rating_value(columns[4][i])
            if not math.isfinite(value):
                raise ValueError(f"row {names[i]}: rating {columns[4][i]!r} is not a finite number")
        t, r, c = t_index[ids[0][i]], r_index[ids[1][i]], c_index[ids[2][i]]
        if case_truth[c] == -1:
            case_truth[c], case_row[c] = label, i
        elif case_truth[c] != label:
            raise ValueError(f"row {names[i]}: case {cases[c]!r} has truth {columns[3][i]!r} here but "
                             f"{columns[3][case_row[c]]!r} at row {names[case_row[c]]}; truth must be "
                             f"constant per case")
        if first_row[t, r, c] >= 0:
            raise ValueError(f"row {names[i]}: reader {readers[r]!r} reads case {cases[c]!r} in test "
                             f"{tests[t]!r} a second time (first at row {names[first_row[t, r, c]]})")
        first_row[t, r, c] = i
        ratings[t, r, c] = value

    missing = np.argwhere(first_row < 0)
    if missing.size:
        t, r, c = missing[0]
        raise ValueError(f"case {cases[c]!r} (row {names[case_row[c]]}) has no reading by reader "
                         f"{readers[r]!r} in test {tests[t]!r}; every reader must read every case in "
                         f"every test ({missing.shape[0]} readings missing)")
    n_pos = int(case_truth.sum())
    if n_pos == 0 or n_pos == len(cases):
        only = "diseased (truth 1)" if n_pos else "non-diseased (truth 0)"
        raise ValueError(f"every case is {only}; an MRMC analysis needs diseased and non-diseased cases")
    return ReaderStudy(tests, readers, cases, case_truth.astype(np.int8), ratings)
