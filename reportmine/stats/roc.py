"""ROC analysis: curve, AUC with DeLong variance, paired DeLong test, bootstrap, cut-offs.

Conventions (as pROC with ``direction = "<"``): a higher score means more likely diseased;
AUC is the Mann–Whitney probability with ties counted ½ (so it may be below 0.5). Curve
thresholds are pROC's: −∞, the midpoints between adjacent distinct scores, +∞, and a case
is test-positive when its score is *above* the threshold.

DeLong's variance uses the structural components (placements) with n − 1 denominators and
is computed in O(n log n) from one sort (Sun & Xu 2014): within a block of tied scores every
positive has the same placement, so only per-block counts are needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from . import checks
from .proportions import z_value


def as_labels(labels: Sequence, what: str = "labels") -> np.ndarray:
    """0/1 int array from any spelling of :mod:`reportmine.core.labels`; a clear error otherwise."""
    return checks.labels(labels, what)


def as_scores(scores: Sequence, what: str = "scores") -> np.ndarray:
    """Finite float64 scores; a clear error otherwise."""
    return checks.finite(scores, what)


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = as_labels(labels)
    s = as_scores(scores)
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"labels and scores differ in length ({y.shape[0]} vs {s.shape[0]})")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        raise ValueError("labels hold a single class; ROC analysis needs cases and controls")
    return y, s


@dataclass(frozen=True)
class _Blocks:
    """Per block of tied scores (ascending): positives and negatives in it."""

    values: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    m: int  # positives
    n: int  # negatives


def _blocks(y: np.ndarray, s: np.ndarray) -> _Blocks:
    order = np.argsort(s)
    sorted_scores = s[order]
    sorted_labels = y[order].astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_scores)) + 1))
    size = np.diff(np.append(starts, s.shape[0]))
    pos = np.add.reduceat(sorted_labels, starts)
    return _Blocks(sorted_scores[starts], pos, size - pos, int(pos.sum()), int((size - pos).sum()))


def _placements(b: _Blocks) -> tuple[np.ndarray, np.ndarray]:
    """Per-block placement of a positive (V10) and of a negative (V01)."""
    neg_below = np.cumsum(b.neg) - b.neg
    pos_above = b.m - np.cumsum(b.pos)
    v10 = (neg_below + 0.5 * b.neg) / b.n
    v01 = (pos_above + 0.5 * b.pos) / b.m
    return v10, v01


def _weighted_moments(values: np.ndarray, weights: np.ndarray, total: int) -> tuple[float, float]:
    mean = float(np.dot(weights, values) / total)
    # one case (or control) leaves the sample variance undefined, as in pROC
    var = float(np.dot(weights, (values - mean) ** 2) / (total - 1)) if total > 1 else math.nan
    return mean, var


@dataclass(frozen=True)
class AUCResult:
    auc: float
    variance: float
    ci_low: float
    ci_high: float
    ci_low_unclipped: float
    ci_high_unclipped: float
    method: str
    n_cases: int
    n_controls: int
    conf_level: float = 0.95

    def summary(self) -> str:
        return (f"AUC {self.auc:.4f} ({self.conf_level:.0%} CI {self.ci_low:.4f}–{self.ci_high:.4f}; {self.method}; "
                f"{self.n_cases} cases, {self.n_controls} controls)")


def auc_delong(labels: Sequence, scores: Sequence, conf_level: float = 0.95) -> AUCResult:
    """AUC with DeLong's variance and CI (clipped to [0, 1]; unclipped kept)."""
    y, s = _check(labels, scores)
    b = _blocks(y, s)
    v10, v01 = _placements(b)
    auc, var10 = _weighted_moments(v10, b.pos, b.m)
    _, var01 = _weighted_moments(v01, b.neg, b.n)
    variance = var10 / b.m + var01 / b.n
    half = z_value(conf_level) * math.sqrt(variance)
    low, high = auc - half, auc + half
    return AUCResult(auc, variance, max(0.0, low), min(1.0, high), low, high,
                     "DeLong (Sun & Xu fast algorithm)", b.m, b.n, conf_level)


@dataclass(frozen=True)
class DeLongTest:
    auc_a: float
    auc_b: float
    difference: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    covariance: float
    method: str = "paired DeLong test (two-sided)"
    conf_level: float = 0.95

    def summary(self) -> str:
        return (f"AUC {self.auc_a:.4f} vs {self.auc_b:.4f}: difference {self.difference:.4f} "
                f"({self.conf_level:.0%} CI {self.ci_low:.4f} to {self.ci_high:.4f}), z = {self.z:.3f}, "
                f"p = {self.p_value:.4g} ({self.method})")


def delong_test(labels: Sequence, scores_a: Sequence, scores_b: Sequence, conf_level: float = 0.95) -> DeLongTest:
    """Paired DeLong test of two scores read on the same cases (pROC ``roc.test(paired=TRUE)``)."""
    y, sa = _check(labels, scores_a)
    _, sb = _check(labels, scores_b)
    comps = []
    for s in (sa, sb):
        v10_block, v01_block = _placements(_blocks(y, s))
        block_of = np.unique(s, return_inverse=True)[1]  # each case's block of tied scores
        comps.append((v10_block[block_of[y == 1]], v01_block[block_of[y == 0]]))
    (a10, a01), (b10, b01) = comps
    m, n = a10.shape[0], a01.shape[0]
    s10 = np.cov(np.vstack([a10, b10]), ddof=1)
    s01 = np.cov(np.vstack([a01, b01]), ddof=1)
    cov = s10 / m + s01 / n
    auc_a, auc_b = float(a10.mean()), float(b10.mean())
    diff = auc_a - auc_b
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else 0.0
        half = 0.0
    else:
        sd = math.sqrt(var)
        z = diff / sd
        p = float(2 * ndtr(-abs(z)))
        half = z_value(conf_level) * sd
    return DeLongTest(auc_a, auc_b, diff, z, p, diff - half, diff + half, float(cov[0, 1]), conf_level=conf_level)


@dataclass(frozen=True)
class BootstrapCI:
    auc: float
    ci_low: float
    ci_high: float
    n_boot: int
    seed: int
    method: str = "stratified bootstrap, percentile"
    conf_level: float = 0.95


def auc_bootstrap(labels: Sequence, scores: Sequence, *, n_boot: int = 2000, seed: int = 0,
                  conf_level: float = 0.95, chunk: int | None = None) -> BootstrapCI:
    """Percentile CI from a stratified bootstrap (cases and controls resampled apart), seeded.

    Vectorised: scores become dense ranks, each replicate's controls are sorted in one
    array, and every replicate's placements come from a single ``searchsorted``.
    """
    y, s = _check(labels, scores)
    ranks = np.unique(s, return_inverse=True)[1].astype(np.int64)
    pos_r, neg_r = ranks[y == 1], ranks[y == 0]
    m, n = pos_r.shape[0], neg_r.shape[0]
    span = 2 * (int(ranks.max()) + 1)
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(n_boot, 20_000_000 // (m + n)))
    aucs = np.empty(n_boot)
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        # one row of uniforms per replicate, so the result does not depend on the chunk size
        u = rng.random((k, m + n))
        p = pos_r[(u[:, :m] * m).astype(np.int64)]
        q = np.sort(neg_r[(u[:, m:] * n).astype(np.int64)], axis=1)
        offset = (np.arange(k, dtype=np.int64) * span)[:, None]
        flat = (2 * q + offset).ravel()
        keys = 2 * p + offset
        below = np.searchsorted(flat, keys, side="left") - np.arange(k)[:, None] * n
        upto = np.searchsorted(flat, keys, side="right") - np.arange(k)[:, None] * n
        aucs[done:done + k] = (below + 0.5 * (upto - below)).sum(axis=1) / (m * n)
        done += k
    alpha = 1 - conf_level
    low, high = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(auc_delong(y, s).auc, float(low), float(high), n_boot, seed, conf_level=conf_level)


@dataclass(frozen=True)
class ROCCurve:
    thresholds: np.ndarray  # −inf, midpoints, +inf (ascending)
    sensitivity: np.ndarray
    specificity: np.ndarray
    tp: np.ndarray
    tn: np.ndarray
    n_cases: int
    n_controls: int


def roc_curve(labels: Sequence, scores: Sequence) -> ROCCurve:
    """pROC-style curve: test positive when score > threshold."""
    y, s = _check(labels, scores)
    b = _blocks(y, s)
    values = b.values
    mids = (values[:-1] + values[1:]) / 2
    thresholds = np.concatenate(([-np.inf], mids, [np.inf]))
    # positives above threshold k (k-th threshold sits below block k)
    pos_above = np.concatenate(([b.m], b.m - np.cumsum(b.pos)))
    neg_below = np.concatenate(([0], np.cumsum(b.neg)))
    return ROCCurve(thresholds, pos_above / b.m, neg_below / b.n, pos_above, neg_below, b.m, b.n)


@dataclass(frozen=True)
class Cutoff:
    threshold: float  # pROC threshold: positive when score > threshold
    threshold_as_observed_score: float  # smallest observed score above it: positive when score >= this
    sensitivity: float
    specificity: float
    youden_j: float
    all_optimal: tuple[float, ...] = field(default_factory=tuple)
    rule: str = "Youden J = Sen + Spe − 1, maximal"

    def summary(self) -> str:
        return (f"cut-off {self.threshold:.6g} (score ≥ {self.threshold_as_observed_score:.6g} is positive): "
                f"Sen {self.sensitivity:.4f}, Spe {self.specificity:.4f}, J {self.youden_j:.4f} ({self.rule})")


def _observed_above(curve_scores: np.ndarray, threshold: float) -> float:
    above = curve_scores[curve_scores > threshold]
    return float(above.min()) if above.size else math.inf


def youden(labels: Sequence, scores: Sequence) -> Cutoff:
    """The Youden-optimal cut-off, compared in exact integer arithmetic (ties all listed)."""
    y, s = _check(labels, scores)
    curve = roc_curve(y, s)
    m, n = curve.n_cases, curve.n_controls
    j_num = curve.tp * n + curve.tn * m  # (Sen + Spe) · m · n, exact
    best = j_num.max()
    idx = np.flatnonzero(j_num == best)
    k = int(idx[0])
    threshold = float(curve.thresholds[k])
    return Cutoff(threshold, _observed_above(s, threshold), float(curve.sensitivity[k]),
                  float(curve.specificity[k]), float(best) / (m * n) - 1.0,
                  tuple(float(t) for t in curve.thresholds[idx]))


def sensitivity_at_specificity(labels: Sequence, scores: Sequence, specificity: float) -> Cutoff:
    """Highest sensitivity among cut-offs whose specificity is at least the target."""
    return _at_least(labels, scores, specificity, fixed="specificity")


def specificity_at_sensitivity(labels: Sequence, scores: Sequence, sensitivity: float) -> Cutoff:
    """Highest specificity among cut-offs whose sensitivity is at least the target."""
    return _at_least(labels, scores, sensitivity, fixed="sensitivity")


def _at_least(labels, scores, target: float, fixed: str) -> Cutoff:
    if not 0 <= target <= 1:
        raise ValueError(f"target {fixed} must be in [0, 1], got {target}")
    y, s = _check(labels, scores)
    curve = roc_curve(y, s)
    ok = np.flatnonzero(getattr(curve, fixed) >= target - 1e-12)
    other = curve.sensitivity if fixed == "specificity" else curve.specificity
    k = int(ok[np.argmax(other[ok])])
    threshold = float(curve.thresholds[k])
    return Cutoff(threshold, _observed_above(s, threshold), float(curve.sensitivity[k]), float(curve.specificity[k]),
                  float(curve.sensitivity[k] + curve.specificity[k] - 1), rule=f"{fixed} ≥ {target:g}")


@dataclass(frozen=True)
class ThresholdTransfer:
    """A cut-off chosen on one set and applied to another, with both sets' results."""

    cutoff: Cutoff
    chosen_on: str
    applied_to: str
    sensitivity: float
    specificity: float
    tp: int
    fp: int
    fn: int
    tn: int

    def summary(self) -> str:
        return (f"cut-off chosen on {self.chosen_on}: {self.cutoff.summary()}\n"
                f"applied to {self.applied_to}: Sen {self.sensitivity:.4f}, Spe {self.specificity:.4f} "
                f"(TP {self.tp}, FP {self.fp}, FN {self.fn}, TN {self.tn})")


def apply_threshold(threshold: float, labels: Sequence, scores: Sequence) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) with positive meaning score > threshold."""
    y = as_labels(labels)
    s = as_scores(scores)
    positive = s > threshold
    return (int((positive & (y == 1)).sum()), int((positive & (y == 0)).sum()),
            int((~positive & (y == 1)).sum()), int((~positive & (y == 0)).sum()))


def transfer_threshold(dev_labels: Sequence, dev_scores: Sequence, test_labels: Sequence, test_scores: Sequence,
                       *, chosen_on: str = "out-of-fold training predictions", applied_to: str = "test set",
                       rule: str = "youden", target: float | None = None) -> ThresholdTransfer:
    """Choose the cut-off on ``dev`` (never on the test set) and report it on ``test``.

    ``rule``: "youden", "sensitivity" (highest Spe with Sen ≥ target) or "specificity".
    """
    if rule == "youden":
        cut = youden(dev_labels, dev_scores)
    elif rule == "sensitivity":
        cut = specificity_at_sensitivity(dev_labels, dev_scores, target)
    elif rule == "specificity":
        cut = sensitivity_at_specificity(dev_labels, dev_scores, target)
    else:
        raise ValueError(f"unknown threshold rule {rule!r}")
    tp, fp, fn, tn = apply_threshold(cut.threshold, test_labels, test_scores)
    sen = tp / (tp + fn) if tp + fn else math.nan
    spe = tn / (tn + fp) if tn + fp else math.nan
    return ThresholdTransfer(cut, chosen_on, applied_to, sen, spe, tp, fp, fn, tn)
