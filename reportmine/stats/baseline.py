"""Baseline characteristics by reference standard (Table 2), calibration and decision curves.

* categorical variables: Pearson's χ² test (no continuity correction), or Fisher's exact test
  for a 2×2 table with an expected count below 5 (the usual rule; the test used is named);
* continuous variables: the Mann–Whitney U test (two-sided), with medians and quartiles;
* calibration: reliability-diagram bins (equal width) and the Brier score;
* decision curve: net benefit = TP/n − FP/n · pt/(1 − pt) against treat-all and treat-none.

scipy.stats is imported inside the functions: the command-line calculators start fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupTest:
    statistic: float
    p_value: float
    method: str


def compare_categorical(values: Sequence, groups: Sequence) -> tuple[dict, GroupTest]:
    """Counts per category and group, and the χ² or Fisher test of independence."""
    from scipy.stats import chi2_contingency, fisher_exact

    values = np.asarray([str(v) for v in values])
    groups = np.asarray(groups)
    cats = sorted(set(values))
    levels = sorted(set(groups.tolist()))
    table = np.array([[int(((values == c) & (groups == g)).sum()) for g in levels] for c in cats])
    counts = {c: dict(zip(levels, row.tolist())) for c, row in zip(cats, table)}
    nonempty = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if nonempty.shape[0] < 2 or nonempty.shape[1] < 2:
        return counts, GroupTest(float("nan"), float("nan"), "not testable (one category or one group)")
    expected = nonempty.sum(1, keepdims=True) * nonempty.sum(0, keepdims=True) / nonempty.sum()
    if nonempty.shape == (2, 2) and expected.min() < 5:
        stat, p = fisher_exact(nonempty)
        return counts, GroupTest(float(stat), float(p), "Fisher's exact test")
    stat, p, _, _ = chi2_contingency(nonempty, correction=False)
    note = " (some expected counts < 5)" if expected.min() < 5 else ""
    return counts, GroupTest(float(stat), float(p), "Pearson's chi-square test" + note)


def compare_continuous(values: Sequence[float], groups: Sequence) -> tuple[dict, GroupTest]:
    """Median [Q1, Q3] per group and the two-sided Mann–Whitney U test (two groups)."""
    from scipy.stats import mannwhitneyu

    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    levels = sorted(set(groups.tolist()))
    summary = {}
    for g in levels:
        v = values[(groups == g) & ~np.isnan(values)]
        summary[g] = {"n": int(v.size), "median": float(np.median(v)) if v.size else float("nan"),
                      "q1": float(np.percentile(v, 25)) if v.size else float("nan"),
                      "q3": float(np.percentile(v, 75)) if v.size else float("nan")}
    if len(levels) != 2 or min(s["n"] for s in summary.values()) == 0:
        return summary, GroupTest(float("nan"), float("nan"), "not testable")
    a = values[(groups == levels[0]) & ~np.isnan(values)]
    b = values[(groups == levels[1]) & ~np.isnan(values)]
    stat, p = mannwhitneyu(a, b, alternative="two-sided")
    return summary, GroupTest(float(stat), float(p), "Mann–Whitney U test")


@dataclass(frozen=True)
class Calibration:
    bin_mean_predicted: tuple[float, ...]
    bin_observed: tuple[float, ...]
    bin_counts: tuple[int, ...]
    brier: float
    n_bins: int


def calibration(labels: Sequence, probs: Sequence[float], n_bins: int = 10) -> Calibration:
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probs, dtype=float)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    means, observed, counts = [], [], []
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            means.append(float(p[sel].mean()))
            observed.append(float(y[sel].mean()))
            counts.append(int(sel.sum()))
    return Calibration(tuple(means), tuple(observed), tuple(counts), float(np.mean((p - y) ** 2)), n_bins)


@dataclass(frozen=True)
class DecisionCurve:
    thresholds: tuple[float, ...]
    net_benefit: tuple[float, ...]
    treat_all: tuple[float, ...]


def decision_curve(labels: Sequence, probs: Sequence[float], thresholds: Sequence[float] | None = None) -> DecisionCurve:
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probs, dtype=float)
    ts = np.asarray(thresholds if thresholds is not None else np.linspace(0.01, 0.99, 99))
    n = y.size
    prevalence = y.mean()
    nb, all_ = [], []
    for t in ts:
        pos = p >= t
        tp = int((pos & (y == 1)).sum())
        fp = int((pos & (y == 0)).sum())
        w = t / (1 - t)
        nb.append(tp / n - fp / n * w)
        all_.append(prevalence - (1 - prevalence) * w)
    return DecisionCurve(tuple(float(t) for t in ts), tuple(nb), tuple(all_))
