"""Clustered ROC analysis: Obuchowski's (1997) nonparametric AUC with its cluster variance.

The AUC is the usual Mann–Whitney estimate over all units (ties ½), θ = Σ ψ(X, Y)/(M·N) for
the M diseased and N non-diseased units. Each unit's placement is DeLong's structural
component: V₁₀(X) = share of non-diseased units below X, V₀₁(Y) = share of diseased units
above Y. Summed within cluster i (mᵢ diseased, nᵢ non-diseased units):

    S₁₀ = I₁₀/((I₁₀ − 1)·M) · Σᵢ (V₁₀(Xᵢ.) − mᵢθ)²
    S₀₁ = I₀₁/((I₀₁ − 1)·N) · Σᵢ (V₀₁(Yᵢ.) − nᵢθ)²
    S₁₁ = I/(I − 1) · Σᵢ (V₁₀(Xᵢ.) − mᵢθ)(V₀₁(Yᵢ.) − nᵢθ)
    Var(θ) = S₁₀/M + S₀₁/N + 2·S₁₁/(M·N)

with I₁₀ (I₀₁) the clusters holding at least one diseased (non-diseased) unit and I all
clusters. With one unit per cluster S₁₁ = 0 and S₁₀, S₀₁ are DeLong's sample variances,
so the variance equals DeLong's exactly. Two markers read on the same units: the same
sums with cross-products give Cov(θ₁, θ₂) and the paired difference's variance
Var(θ₁) + Var(θ₂) − 2 Cov(θ₁, θ₂), with a Wald CI and z test.

Reference: Obuchowski NA. Nonparametric analysis of clustered ROC curve data. Biometrics
1997;53:567–78.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .clusters import cluster_codes, per_cluster
from .proportions import z_value
from .roc import _blocks, _check, _placements

METHOD = "clustered AUC (Obuchowski 1997)"


@dataclass(frozen=True)
class _Components:
    auc: float
    v10: np.ndarray  # per cluster: Σ placements of its diseased units − mᵢθ
    v01: np.ndarray  # per cluster: Σ placements of its non-diseased units − nᵢθ
    m: int
    n: int
    i10: int
    i01: int
    k: int


def _components(y: np.ndarray, s: np.ndarray, codes: np.ndarray, k: int) -> _Components:
    b = _blocks(y, s)
    v10_block, v01_block = _placements(b)
    block_of = np.unique(s, return_inverse=True)[1].ravel()
    place = np.where(y == 1, v10_block[block_of], v01_block[block_of])
    auc = float(place[y == 1].sum() / b.m)
    pos, neg = (y == 1).astype(float), (y == 0).astype(float)
    m_i, n_i = per_cluster(pos, codes, k), per_cluster(neg, codes, k)
    v10 = per_cluster(place * pos, codes, k) - m_i * auc
    v01 = per_cluster(place * neg, codes, k) - n_i * auc
    return _Components(auc, v10, v01, b.m, b.n, int(np.count_nonzero(m_i)), int(np.count_nonzero(n_i)), k)


def _covariance(a: _Components, b: _Components) -> float:
    """Obuchowski's Cov(θ_a, θ_b) (the variance when a is b)."""
    nan = math.nan
    s10 = a.i10 / ((a.i10 - 1) * a.m) * float(np.dot(a.v10, b.v10)) if a.i10 > 1 else nan
    s01 = a.i01 / ((a.i01 - 1) * a.n) * float(np.dot(a.v01, b.v01)) if a.i01 > 1 else nan
    s11 = a.k / (a.k - 1) * float(np.dot(a.v10, b.v01) + np.dot(b.v10, a.v01)) / 2 if a.k > 1 else nan
    return s10 / a.m + s01 / a.n + 2 * s11 / (a.m * a.n)


@dataclass(frozen=True)
class ClusteredAUC:
    auc: float
    variance: float
    ci_low: float
    ci_high: float
    ci_low_unclipped: float
    ci_high_unclipped: float
    n_cases: int
    n_controls: int
    n_clusters: int
    design_effect: float  # variance / DeLong's variance (units treated as independent)
    method: str = METHOD
    conf_level: float = 0.95

    @property
    def se(self) -> float:
        return math.sqrt(self.variance) if self.variance >= 0 else math.nan

    def summary(self) -> str:
        return (f"AUC {self.auc:.4f} ({self.conf_level:.0%} CI {self.ci_low:.4f}–{self.ci_high:.4f}; {self.method}; "
                f"{self.n_cases} cases, {self.n_controls} controls in {self.n_clusters} clusters; "
                f"design effect {self.design_effect:.2f})")

    def as_dict(self) -> dict:
        return {"auc": self.auc, "variance": self.variance, "se": self.se, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "method": self.method, "n_cases": self.n_cases,
                "n_controls": self.n_controls, "n_clusters": self.n_clusters, "design_effect": self.design_effect}


def _prepare(labels, scores, clusters):
    y, s = _check(labels, scores)
    codes, k = cluster_codes(clusters, y.shape[0])
    return y, s, codes, k


def _delong_variance(c: _Components, y: np.ndarray, s: np.ndarray) -> float:
    """DeLong's variance of the same data, each unit its own cluster (for the design effect)."""
    single = _components(y, s, np.arange(y.shape[0]), y.shape[0])
    return _covariance(single, single)


def auc_clustered(labels: Sequence, scores: Sequence, clusters: Sequence, conf_level: float = 0.95) -> ClusteredAUC:
    """AUC with Obuchowski's clustered variance and Wald CI (clipped to [0, 1]; unclipped kept)."""
    y, s, codes, k = _prepare(labels, scores, clusters)
    c = _components(y, s, codes, k)
    variance = _covariance(c, c)
    half = z_value(conf_level) * math.sqrt(variance) if variance >= 0 else math.nan
    low, high = c.auc - half, c.auc + half
    delong = _delong_variance(c, y, s)
    deff = variance / delong if delong > 0 else math.nan
    return ClusteredAUC(c.auc, variance, max(0.0, low), min(1.0, high), low, high, c.m, c.n, k, deff,
                        conf_level=conf_level)


@dataclass(frozen=True)
class ClusteredAUCDifference:
    auc_a: float
    auc_b: float
    difference: float
    variance: float
    covariance: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    n_clusters: int
    method: str = "paired clustered AUC difference (Obuchowski 1997), Wald"
    conf_level: float = 0.95

    def summary(self) -> str:
        return (f"AUC {self.auc_a:.4f} vs {self.auc_b:.4f}: difference {self.difference:.4f} "
                f"({self.conf_level:.0%} CI {self.ci_low:.4f} to {self.ci_high:.4f}), z = {self.z:.3f}, "
                f"p = {self.p_value:.4g} ({self.n_clusters} clusters; {self.method})")

    def as_dict(self) -> dict:
        return {"auc_a": self.auc_a, "auc_b": self.auc_b, "difference": self.difference, "variance": self.variance,
                "covariance": self.covariance, "z": self.z, "p_value": self.p_value, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "n_clusters": self.n_clusters, "method": self.method}


def auc_difference_clustered(labels: Sequence, scores_a: Sequence, scores_b: Sequence, clusters: Sequence,
                             conf_level: float = 0.95) -> ClusteredAUCDifference:
    """Two markers on the same clustered units: θ_a − θ_b with Obuchowski's variance."""
    y, sa, codes, k = _prepare(labels, scores_a, clusters)
    _, sb = _check(y, scores_b)
    a, b = _components(y, sa, codes, k), _components(y, sb, codes, k)
    var_a, var_b, cov = _covariance(a, a), _covariance(b, b), _covariance(a, b)
    diff = a.auc - b.auc
    var = var_a + var_b - 2 * cov
    if math.isnan(var):
        z = p = half = math.nan
    elif var <= 0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p, half = (1.0 if diff == 0 else 0.0), 0.0
    else:
        z = diff / math.sqrt(var)
        p = float(2 * ndtr(-abs(z)))
        half = z_value(conf_level) * math.sqrt(var)
    return ClusteredAUCDifference(a.auc, b.auc, diff, var, cov, z, p, diff - half, diff + half, k,
                                  conf_level=conf_level)
