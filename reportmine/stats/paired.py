"""Two index tests read on the same cases: McNemar tests.

``b`` = test 1 positive and test 2 negative, ``c`` = test 1 negative and test 2 positive.

* exact: two-sided binomial test of b out of b + c at ½ (R ``binom.test``).
* chi2: (b − c)² / (b + c), 1 df (R ``mcnemar.test(correct = FALSE)``).
* chi2_corrected: (max(|b − c| − 1, 0))² / (b + c) (Edwards' continuity correction).
  The correction is clamped at 0: it may not push the statistic past "no difference".
  That makes b = c give 0 and p = 1, which is also what R's ``mcnemar.test`` reports
  (it skips the correction when b = c); statsmodels' unclamped formula gives 1/(b + c).
* b + c = 0 (no discordant pairs): exact p = 1, the χ² statistics are undefined (NaN).
* Counts up to :data:`MAX_COUNT` (10^15; a float holds every whole number to 9·10^15): the
  exact p-value is the regularized incomplete beta function, exact there too (scipy's
  ``bdtr`` takes a C int: it failed above 2^31); larger counts are refused, naming the count.

The reported test is the exact one when b + c < 25 (the χ² approximation is poor there),
else the continuity-corrected χ²; ``reported`` names it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, chdtrc

from .checks import count
from .diagnostic import _as_binary

EXACT_BELOW = 25
MAX_COUNT = 10**15


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float
    method: str


@dataclass(frozen=True)
class McNemarResult:
    b: int
    c: int
    a: int | None
    d: int | None
    exact: TestResult
    chi2: TestResult
    chi2_corrected: TestResult
    reported: str  # "exact" or "chi2_corrected"

    @property
    def p_value(self) -> float:
        return getattr(self, self.reported).p_value

    def summary(self) -> str:
        lines = [f"discordant pairs: b = {self.b} (test 1 +, test 2 −), c = {self.c} (test 1 −, test 2 +)"]
        if self.a is not None:
            lines.append(f"concordant pairs: a = {self.a} (both +), d = {self.d} (both −)")
        lines.append(f"exact binomial          p = {_p(self.exact.p_value)}")
        lines.append(f"chi-square              {self.chi2.statistic:.4f}, p = {_p(self.chi2.p_value)}")
        lines.append(f"chi-square (corrected)  {self.chi2_corrected.statistic:.4f}, p = {_p(self.chi2_corrected.p_value)}")
        lines.append(f"reported: {getattr(self, self.reported).method}")
        return "\n".join(lines)


def _p(p: float) -> str:
    return "NaN" if math.isnan(p) else ("< 0.0001" if p < 1e-4 else f"{p:.4f}")


def mcnemar(b: int, c: int, *, a: int | None = None, d: int | None = None) -> McNemarResult:
    b, c = count(b, "b"), count(c, "c")
    a = None if a is None else count(a, "a")
    d = None if d is None else count(d, "d")
    for name, value in (("b", b), ("c", c), ("a", a), ("d", d)):
        if value is not None and value > MAX_COUNT:
            raise ValueError(f"{name} = {value} is above the documented limit {MAX_COUNT:,} of a count")
    n = b + c
    if n == 0:
        exact_p = 1.0
        stat = stat_cc = p = p_cc = float("nan")
    else:
        k = min(b, c)  # P(X ≤ k) for X ~ Binomial(n, ½) is I_½(n − k, k + 1)
        exact_p = min(1.0, 2.0 * float(betainc(float(n - k), float(k + 1), 0.5)))
        stat = (b - c) ** 2 / n
        stat_cc = max(abs(b - c) - 1, 0) ** 2 / n
        p, p_cc = float(chdtrc(1, stat)), float(chdtrc(1, stat_cc))
    return McNemarResult(
        b, c, a, d,
        exact=TestResult(float("nan"), exact_p, "McNemar exact (binomial, two-sided)"),
        chi2=TestResult(stat, p, "McNemar chi-square, no continuity correction"),
        chi2_corrected=TestResult(stat_cc, p_cc, "McNemar chi-square with continuity correction"),
        reported="exact" if n < EXACT_BELOW else "chi2_corrected",
    )


@dataclass(frozen=True)
class PairedComparison:
    """Overall agreement, sensitivity (diseased) and specificity (non-diseased) compared."""

    overall: McNemarResult
    sensitivity: McNemarResult
    specificity: McNemarResult
    sensitivity_1: float
    sensitivity_2: float
    specificity_1: float
    specificity_2: float
    n_diseased: int
    n_healthy: int

    def summary(self) -> str:
        return "\n".join([
            f"sensitivity {self.sensitivity_1:.4f} vs {self.sensitivity_2:.4f} (n = {self.n_diseased}): "
            f"p = {_p(self.sensitivity.p_value)} ({getattr(self.sensitivity, self.sensitivity.reported).method})",
            f"specificity {self.specificity_1:.4f} vs {self.specificity_2:.4f} (n = {self.n_healthy}): "
            f"p = {_p(self.specificity.p_value)} ({getattr(self.specificity, self.specificity.reported).method})",
            f"overall agreement: p = {_p(self.overall.p_value)}",
        ])


def _paired_counts(x: np.ndarray, y: np.ndarray) -> dict[str, int]:
    return {"a": int(((x == 1) & (y == 1)).sum()), "b": int(((x == 1) & (y == 0)).sum()),
            "c": int(((x == 0) & (y == 1)).sum()), "d": int(((x == 0) & (y == 0)).sum())}


def compare_paired(gold: Sequence, test1: Sequence, test2: Sequence) -> PairedComparison:
    """McNemar on all cases, on the diseased (sensitivity) and on the non-diseased (specificity).

    Calls must be binary (decide indeterminate results first, e.g. with the rule used for the
    2×2 tables).
    """
    if not len(gold) == len(test1) == len(test2):
        raise ValueError(f"lengths differ: gold {len(gold)}, test1 {len(test1)}, test2 {len(test2)}")
    g = _as_binary(list(gold), "gold", False)
    t1 = _as_binary(list(test1), "test1", False)
    t2 = _as_binary(list(test2), "test2", False)
    sick, well = g == 1, g == 0
    on_sick = _paired_counts(t1[sick], t2[sick])
    # On the non-diseased, "positive" for specificity means a correct negative call.
    on_well = _paired_counts(1 - t1[well], 1 - t2[well])
    return PairedComparison(
        overall=mcnemar(**_paired_counts(t1, t2)),
        sensitivity=mcnemar(**on_sick),
        specificity=mcnemar(**on_well),
        sensitivity_1=float(t1[sick].mean()) if sick.any() else float("nan"),
        sensitivity_2=float(t2[sick].mean()) if sick.any() else float("nan"),
        specificity_1=float(1 - t1[well].mean()) if well.any() else float("nan"),
        specificity_2=float(1 - t2[well].mean()) if well.any() else float("nan"),
        n_diseased=int(sick.sum()),
        n_healthy=int(well.sum()),
    )
