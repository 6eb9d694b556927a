"""A reader study from a long-format .csv/.xlsx file: one row per reading.

Errors name the file and the row a spreadsheet shows (header = row 1).
"""

from __future__ import annotations

from pathlib import Path

from ...core.errors import InputError
from ...core.tables import read_table
from .analysis import MRMCResult, or_analysis
from .study import ReaderStudy, reader_study

#: Default column names: test (modality), reader, case, truth (1/0), rating.
READING_COLUMNS = {"test": "test", "reader": "reader", "case": "case", "truth": "truth", "rating": "rating"}


def read_reader_study(path: str | Path, *, test_col: str = "test", reader_col: str = "reader",
                      case_col: str = "case", truth_col: str = "truth", rating_col: str = "rating",
                      binary_ratings: bool = False) -> ReaderStudy:
    """The checked study in ``path``; each refusal is one line naming the file and row."""
    path = Path(path)
    columns = [test_col, reader_col, case_col, truth_col, rating_col]
    if len(set(columns)) != len(columns):
        raise InputError(f"{path}: the test, reader, case, truth and rating columns must be five different "
                         f"columns (got {', '.join(map(repr, columns))})")
    frame = read_table(path, columns=columns)
    if frame.empty:
        raise InputError(f"{path}: no data rows")
    try:
        return reader_study(*(frame[c].tolist() for c in columns), rows=[str(i) for i in frame.index],
                            binary_ratings=binary_ratings)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def mrmc_from_table(path: str | Path, *, test_col: str = "test", reader_col: str = "reader", case_col: str = "case",
                    truth_col: str = "truth", rating_col: str = "rating", metric: str = "auc",
                    covariance: str = "jackknife", fixed: str = "none", conf_level: float = 0.95) -> MRMCResult:
    """:func:`reportmine.stats.mrmc.mrmc` over a long-format file."""
    study = read_reader_study(path, test_col=test_col, reader_col=reader_col, case_col=case_col,
                              truth_col=truth_col, rating_col=rating_col, binary_ratings=metric != "auc")
    try:
        return or_analysis(study, metric=metric, covariance=covariance, fixed=fixed, conf_level=conf_level)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
