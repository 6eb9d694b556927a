"""Patient (cluster) bootstrap: resample whole clusters with replacement, seeded and vectorised.

A replicate draws K clusters out of K with replacement; a unit then appears as many times
as its cluster was drawn. Every replicate is therefore a row of *unit weights* (0, 1, 2, …),
and a statistic that accepts a (replicates × units) weight matrix computes all replicates
in a few array operations. :func:`weighted_ratio`, :func:`weighted_median` and
:func:`weighted_auc` make such statistics (a ratio estimator such as sensitivity, the
median Dice, the AUC); any other function of the weights can be passed as well. The CI is
the percentile interval; replicates where the statistic is undefined (e.g. no diseased
unit drawn) are dropped and counted.

The draws are made row by row from one ``numpy.random.default_rng(seed)`` stream, so the
result does not depend on the chunk size used to bound memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import checks
from .clusters import cluster_codes
from .proportions import z_value

Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClusterBootstrap:
    estimate: float  # the statistic on the data (every weight 1)
    ci_low: float
    ci_high: float
    se: float  # standard deviation of the replicates
    n_boot: int
    n_valid: int  # replicates where the statistic was defined
    n_clusters: int
    seed: int
    method: str = "cluster (patient) bootstrap, percentile"
    conf_level: float = 0.95
    replicates: np.ndarray | None = None

    def summary(self) -> str:
        return (f"{self.estimate:.4f} ({self.conf_level:.0%} CI {self.ci_low:.4f}–{self.ci_high:.4f}; bootstrap SE "
                f"{self.se:.4f}; {self.n_valid}/{self.n_boot} replicates over {self.n_clusters} clusters, "
                f"seed {self.seed}; {self.method})")

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "se": self.se,
                "n_boot": self.n_boot, "n_valid": self.n_valid, "n_clusters": self.n_clusters, "seed": self.seed,
                "method": self.method, "conf_level": self.conf_level}


def cluster_weights(rng: np.random.Generator, codes: np.ndarray, k: int, rows: int) -> np.ndarray:
    """``rows`` replicates of unit weights: how often each unit's cluster was drawn."""
    draws = rng.integers(0, k, size=(rows, k))
    counts = np.bincount((draws + (np.arange(rows) * k)[:, None]).ravel(), minlength=rows * k).reshape(rows, k)
    return counts[:, codes].astype(np.float64)


def cluster_bootstrap(statistic: Statistic, clusters: Sequence, *, n_boot: int = 2000, seed: int = 0,
                      conf_level: float = 0.95, chunk: int | None = None,
                      keep_replicates: bool = False) -> ClusterBootstrap:
    """Percentile CI of ``statistic`` by resampling clusters.

    ``statistic(weights)`` takes a (replicates × units) float array of unit weights and
    returns one value per replicate (NaN where undefined).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    z_value(conf_level)
    codes, k = cluster_codes(clusters)
    if k < 2:
        raise ValueError("the cluster bootstrap needs at least two clusters")
    n_units = codes.shape[0]
    estimate = float(np.asarray(statistic(np.ones((1, n_units))), dtype=float).ravel()[0])
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(n_boot, 4_000_000 // max(n_units + k, 1)))
    values = np.empty(n_boot)
    done = 0
    while done < n_boot:
        rows = min(chunk, n_boot - done)
        values[done:done + rows] = np.asarray(statistic(cluster_weights(rng, codes, k, rows)), dtype=float).ravel()
        done += rows
    valid = values[np.isfinite(values)]
    if valid.size == 0:
        low = high = se = math.nan
    else:
        alpha = 1 - conf_level
        low, high = (float(q) for q in np.quantile(valid, [alpha / 2, 1 - alpha / 2]))
        se = float(valid.std(ddof=1)) if valid.size > 1 else math.nan
    return ClusterBootstrap(estimate, low, high, se, n_boot, int(valid.size), k, seed, conf_level=conf_level,
                            replicates=values if keep_replicates else None)


# ------------------------------------------------------------------ statistics of unit weights

def weighted_ratio(numerator: Sequence, denominator: Sequence | None = None) -> Statistic:
    """Σ w·numerator / Σ w·denominator per replicate (e.g. sensitivity: TP / diseased)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.ones_like(num) if denominator is None else np.asarray(denominator, dtype=np.float64)

    def statistic(weights: np.ndarray) -> np.ndarray:
        top, bottom = weights @ num, weights @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)

    return statistic


def weighted_median(values: Sequence) -> Statistic:
    """The median of the resampled values (as ``numpy.median`` of the expanded sample):
    NaN values (e.g. an undefined Dice) are left out."""
    v = np.asarray(values, dtype=np.float64)
    keep = np.flatnonzero(np.isfinite(v))
    order = keep[np.argsort(v[keep], kind="stable")]
    sorted_v = v[order]

    def statistic(weights: np.ndarray) -> np.ndarray:
        w = weights[:, order]
        cum = np.cumsum(w, axis=1)
        total = cum[:, -1] if cum.shape[1] else np.zeros(w.shape[0])
        out = np.full(w.shape[0], np.nan)
        ok = total > 0
        if not ok.any() or sorted_v.size == 0:
            return out
        # 0-based positions of the two middle values of the expanded, sorted sample
        lower = np.floor((total - 1) / 2)
        upper = np.floor(total / 2)
        lo_idx = np.minimum((cum <= lower[:, None]).sum(axis=1), sorted_v.size - 1)
        hi_idx = np.minimum((cum <= upper[:, None]).sum(axis=1), sorted_v.size - 1)
        out[ok] = (sorted_v[lo_idx[ok]] + sorted_v[hi_idx[ok]]) / 2
        return out

    return statistic


def weighted_auc(labels: Sequence, scores: Sequence) -> Statistic:
    """The Mann–Whitney AUC (ties ½) of the resampled units, higher score = diseased."""
    y = checks.labels(labels)
    s = checks.finite(scores)
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"labels and scores differ in length ({y.shape[0]} vs {s.shape[0]})")
    order = np.argsort(s, kind="stable")
    sorted_s, sorted_y = s[order], y[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_s)) + 1)) if s.size else np.zeros(0, int)
    pos_mask, neg_mask = (sorted_y == 1).astype(float), (sorted_y == 0).astype(float)

    def statistic(weights: np.ndarray) -> np.ndarray:
        w = weights[:, order]
        pos = np.add.reduceat(w * pos_mask, starts, axis=1)  # per block of tied scores
        neg = np.add.reduceat(w * neg_mask, starts, axis=1)
        neg_below = np.cumsum(neg, axis=1) - neg
        total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
        wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((total_pos > 0) & (total_neg > 0), wins / (total_pos * total_neg), np.nan)

    return statistic
