"""Segmentation overlap per image: Dice and Jaccard, and their summary.

Dice = 2|A∩B| / (|A| + |B|) (not "overlap over union": that is Jaccard, |A∩B| / |A∪B|).

When both masks are empty the ratio is 0/0 and libraries disagree (smp: 1; MONAI and
nnU-Net: NaN, excluded from the mean). The policy is explicit and recorded:
``empty="one"`` (both empty → 1), ``"nan"`` (→ NaN, excluded from summaries) or ``"zero"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

EMPTY_POLICIES = ("one", "nan", "zero")


def _binary(mask) -> np.ndarray:
    return np.asarray(mask) != 0


def _empty_value(policy: str) -> float:
    if policy not in EMPTY_POLICIES:
        raise ValueError(f"empty policy must be one of {', '.join(EMPTY_POLICIES)}, got {policy!r}")
    return {"one": 1.0, "nan": math.nan, "zero": 0.0}[policy]


def dice(pred, ref, empty: str = "one") -> float:
    a, b = _binary(pred), _binary(ref)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return _empty_value(empty)
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def jaccard(pred, ref, empty: str = "one") -> float:
    a, b = _binary(pred), _binary(ref)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    union = int(np.logical_or(a, b).sum())
    if union == 0:
        return _empty_value(empty)
    return int(np.logical_and(a, b).sum()) / union


@dataclass(frozen=True)
class OverlapSummary:
    """Median with quartiles (and a bootstrap CI of the median) of per-image scores."""

    metric: str
    n: int  # images summarised (NaN excluded)
    n_excluded: int  # NaN (empty-empty under the "nan" policy)
    median: float
    q1: float  # 25th percentile
    q3: float  # 75th percentile
    median_ci_low: float
    median_ci_high: float
    empty_policy: str
    interpolation: str
    n_boot: int
    seed: int
    conf_level: float = 0.95

    def summary(self) -> str:
        return (f"{self.metric} median {self.median:.3f} (Q1 {self.q1:.3f}, Q3 {self.q3:.3f}; "
                f"{self.conf_level:.0%} CI of median {self.median_ci_low:.3f}–{self.median_ci_high:.3f}, "
                f"bootstrap n={self.n_boot}, seed {self.seed}); {self.n} images, {self.n_excluded} excluded; "
                f"both-empty → {self.empty_policy}; quartiles by {self.interpolation} interpolation")


def summarize_overlap(values: Iterable[float], *, metric: str = "Dice", empty_policy: str = "one",
                      interpolation: str = "linear", n_boot: int = 2000, seed: int = 0,
                      conf_level: float = 0.95) -> OverlapSummary:
    """Median, Q1/Q3 (numpy ``method=interpolation``; "linear" is R type 7) and a percentile
    bootstrap CI of the median (seeded, vectorised)."""
    arr = np.asarray(list(values), dtype=np.float64)
    kept = arr[~np.isnan(arr)]
    if kept.size == 0:
        raise ValueError(f"no {metric} values to summarise (all empty or NaN)")
    q1, median, q3 = np.quantile(kept, [0.25, 0.5, 0.75], method=interpolation)
    rng = np.random.default_rng(seed)
    boots = np.median(kept[rng.integers(0, kept.size, size=(n_boot, kept.size))], axis=1)
    alpha = 1 - conf_level
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return OverlapSummary(metric, int(kept.size), int(arr.size - kept.size), float(median), float(q1), float(q3),
                          float(low), float(high), empty_policy, interpolation, n_boot, seed, conf_level)


def overlap_per_image(preds: Sequence, refs: Sequence, empty: str = "one") -> tuple[np.ndarray, np.ndarray]:
    """(Dice, Jaccard) arrays, one value per image pair."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predicted masks but {len(refs)} reference masks")
    d = np.array([dice(p, r, empty) for p, r in zip(preds, refs)])
    j = np.array([jaccard(p, r, empty) for p, r in zip(preds, refs)])
    return d, j
