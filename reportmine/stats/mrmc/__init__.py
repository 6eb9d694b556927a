"""Multi-reader multi-case (MRMC) analysis: Obuchowski–Rockette with Hillis' degrees of freedom.

Equal to R's MRMCaov 0.3.0 for a factorial design (every reader reads every case in every
test): :func:`mrmc` over arrays, :func:`mrmc_from_table` over a long-format .csv/.xlsx file.
See docs/reader-study.md for the method and how it differs from a per-reader analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

from .analysis import (
    COVARIANCE_NAMES,
    FACTOR_TYPES,
    FIXED,
    METRIC_NAMES,
    Difference,
    GlobalTest,
    MRMCResult,
    ReaderDifference,
    TestMean,
    VarianceComponents,
    or_analysis,
)
from .covariance import COVARIANCE_METHODS, METRICS, metric_covariance, reader_metrics
from .study import ReaderStudy, reader_study
from .table import READING_COLUMNS, mrmc_from_table, read_reader_study


def mrmc(test: Sequence, reader: Sequence, case: Sequence, truth: Sequence, rating: Sequence, *,
         metric: str = "auc", covariance: str = "jackknife", fixed: str = "none", conf_level: float = 0.95,
         rows: Sequence | None = None) -> MRMCResult:
    """Obuchowski–Rockette analysis of long-format readings (one reading per element).

    ``metric``: auc (ordinal or continuous ratings; higher = more likely diseased), sensitivity
    or specificity (binary reads, 1 = positive). ``covariance``: jackknife, delong or unbiased
    (the last two for the AUC). ``fixed``: none (random readers and cases), readers or cases.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    study = reader_study(test, reader, case, truth, rating, rows=rows, binary_ratings=metric != "auc")
    return or_analysis(study, metric=metric, covariance=covariance, fixed=fixed, conf_level=conf_level)


__all__ = [
    "COVARIANCE_METHODS", "COVARIANCE_NAMES", "FACTOR_TYPES", "FIXED", "METRICS", "METRIC_NAMES",
    "READING_COLUMNS", "Difference", "GlobalTest", "MRMCResult", "ReaderDifference", "ReaderStudy",
    "TestMean", "VarianceComponents", "metric_covariance", "mrmc", "mrmc_from_table", "or_analysis",
    "read_reader_study", "reader_metrics", "reader_study",
]
