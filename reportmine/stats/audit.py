"""Published-table audit: which integer 2×2 tables reproduce reported percentages?

Given reported Sen / Spe / Acc / PPV / NPV (in percent, each with its number of decimals)
and the group sizes (diseased and non-diseased), or only the total, or neither (then up to
``max_n`` per group), every table (TP, FP, FN, TN) whose values round to the reported ones
is listed. A value matches when |100·value − reported| ≤ ½·10^−decimals. If no table
matches all values, the best fits (fewest mismatching values, then smallest deviation in
rounding units) say which reported value is the odd one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

MEASURES = ("sensitivity", "specificity", "accuracy", "ppv", "npv")


@dataclass(frozen=True)
class ReportedValue:
    percent: float
    decimals: int

    @classmethod
    def parse(cls, value, decimals: int | None = None) -> ReportedValue:
        if isinstance(value, ReportedValue):
            return value
        text = str(value).strip().rstrip("%").strip()
        try:
            number = Decimal(text)
        except Exception as exc:
            raise ValueError(f"reported value {value!r} is not a number") from exc
        if not 0 <= number <= 100:
            raise ValueError(f"reported value {value!r} must be a percentage in [0, 100]")
        places = decimals if decimals is not None else max(0, -number.as_tuple().exponent)
        return cls(float(number), int(places))

    @property
    def half_unit(self) -> float:
        return 0.5 * 10.0 ** (-self.decimals)


@dataclass(frozen=True)
class Fit:
    tp: int
    fp: int
    fn: int
    tn: int
    values: dict  # measure -> percent computed from the table
    matches: dict  # measure -> bool
    deviation: float  # sum of |computed − reported| in half-units beyond the rounding window

    @property
    def n_pos(self) -> int:
        return self.tp + self.fn

    @property
    def n_neg(self) -> int:
        return self.fp + self.tn

    @property
    def mismatched(self) -> tuple[str, ...]:
        return tuple(k for k, ok in self.matches.items() if not ok)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v:.3f} %" + ("" if self.matches[k] else " (≠ reported)") for k, v in self.values.items())
        return f"TP {self.tp}, FP {self.fp}, FN {self.fn}, TN {self.tn} (groups {self.n_pos}/{self.n_neg}): {parts}"


@dataclass(frozen=True)
class Reconstruction:
    reported: dict
    consistent: tuple[Fit, ...]
    best_fits: tuple[Fit, ...]
    search: str
    truncated: bool = False
    group_sizes: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    @property
    def exactly_consistent(self) -> bool:
        return bool(self.consistent)

    def summary(self) -> str:
        shown = ", ".join(f"{k} {v.percent:.{v.decimals}f} %" for k, v in self.reported.items())
        lines = [f"reported: {shown}", f"searched: {self.search}"]
        if self.consistent:
            sizes = sorted({(f.n_pos, f.n_neg) for f in self.consistent})
            lines.append(f"{len(self.consistent)} consistent table(s)"
                         + (" (list truncated)" if self.truncated else "")
                         + f"; group sizes (diseased/non-diseased): {', '.join(f'{a}/{b}' for a, b in sizes[:20])}")
            lines.extend("  " + f.describe() for f in self.consistent[:20])
        else:
            lines.append("no integer table reproduces all reported values; best fits:")
            lines.extend("  " + f.describe() for f in self.best_fits)
        return "\n".join(lines)


def _values(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "sensitivity": 100.0 * tp / (tp + fn),
            "specificity": 100.0 * tn / (tn + fp),
            "accuracy": 100.0 * (tp + tn) / (tp + fp + fn + tn),
            "ppv": 100.0 * tp / (tp + fp),
            "npv": 100.0 * tn / (tn + fn),
        }


def _excess(computed: np.ndarray, target: ReportedValue) -> np.ndarray:
    """How far outside the rounding window, in half-units (0 inside; inf if undefined)."""
    gap = np.abs(computed - target.percent) - target.half_unit * (1 + 1e-9)
    out = np.maximum(gap, 0.0) / target.half_unit
    return np.where(np.isnan(computed), np.inf, out)


def _count_candidates(n_group: int, target: ReportedValue | None, slack: int) -> np.ndarray:
    """Numerators x in [0, n] whose x/n is within ``slack`` counts of the reported value."""
    if target is None or n_group == 0:
        return np.arange(n_group + 1)
    centre = target.percent / 100.0 * n_group
    width = target.half_unit / 100.0 * n_group
    lo = max(0, int(np.floor(centre - width)) - slack)
    hi = min(n_group, int(np.ceil(centre + width)) + slack)
    return np.arange(lo, hi + 1)


def reconstruct(sensitivity=None, specificity=None, accuracy=None, ppv=None, npv=None, *,
                n_pos: int | None = None, n_neg: int | None = None, n: int | None = None,
                decimals: int | None = None, max_n: int = 3000, n_best: int = 5,
                max_tables: int = 1000) -> Reconstruction:
    """Every integer 2×2 table consistent with the reported percentages (see module docs).

    Values may be numbers or strings; a string's decimals are read from it ("34.3" → 1,
    "34.30" → 2) unless ``decimals`` is given.
    """
    given = {k: v for k, v in zip(MEASURES, (sensitivity, specificity, accuracy, ppv, npv)) if v is not None}
    if not given:
        raise ValueError("give at least one reported value (sensitivity, specificity, …)")
    reported = {k: ReportedValue.parse(v, decimals) for k, v in given.items()}
    if (n_pos is None) != (n_neg is None):
        raise ValueError("give both group sizes (n_pos and n_neg), or the total n, or neither")
    for name, value in (("n_pos", n_pos), ("n_neg", n_neg), ("n", n)):
        if value is not None and (int(value) != value or value < 0):
            raise ValueError(f"{name} must be a non-negative whole number, got {value}")
    if n_pos is not None:
        if n_pos + n_neg == 0:
            raise ValueError("the group sizes add up to zero")
        margins = [(int(n_pos), int(n_neg))]
        search = f"all tables with {n_pos} diseased and {n_neg} non-diseased"
    elif n is not None:
        if n == 0:
            raise ValueError("the total n must be positive")
        margins = [(k, int(n) - k) for k in range(int(n) + 1)]
        search = f"all tables of {n} cases"
    else:
        if "sensitivity" not in reported or "specificity" not in reported:
            raise ValueError("without group sizes, give at least sensitivity and specificity")
        margins = [(a, b) for a in range(1, max_n + 1) for b in range(1, max_n + 1)]
        search = f"all tables with up to {max_n} diseased and {max_n} non-diseased"

    exact_only = n_pos is None  # a full grid is affordable only for fixed margins
    slack = 1 if exact_only else None
    consistent: list[Fit] = []
    best: list[tuple[tuple, Fit]] = []
    truncated = False
    se_target, sp_target = reported.get("sensitivity"), reported.get("specificity")
    neg_cache: dict[int, np.ndarray] = {}
    by_pos: dict[int, list[int]] = {}
    for a, b in margins:
        by_pos.setdefault(a, []).append(b)
    for a, negs in by_pos.items():
        tps = _count_candidates(a, se_target, a + 1 if slack is None else slack)
        for b in negs:
            if b not in neg_cache:
                neg_cache[b] = _count_candidates(b, sp_target, b + 1 if slack is None else slack)
        # every (n_neg, TN) candidate for this n_pos, flattened, crossed with every TP
        group = np.concatenate([np.full(neg_cache[b].size, b) for b in negs]).astype(np.float64)
        tns = np.concatenate([neg_cache[b] for b in negs]).astype(np.float64)
        if tps.size == 0 or tns.size == 0:
            continue
        tp = np.repeat(tps.astype(np.float64), tns.size)
        tn = np.tile(tns, tps.size)
        fp = np.tile(group, tps.size) - tn
        fn = a - tp
        values = _values(tp, fp, fn, tn)
        excess = {k: _excess(values[k], target) for k, target in reported.items()}
        mism = sum((e > 0).astype(np.int64) for e in excess.values())
        dev = sum(np.where(np.isinf(e), 1e9, e) for e in excess.values())
        for i in np.flatnonzero(mism == 0):
            if len(consistent) >= max_tables:
                truncated = True
                break
            consistent.append(_fit(tp[i], fp[i], fn[i], tn[i], values, excess, i, reported))
        if not consistent:
            for i in np.lexsort((dev, mism))[:n_best]:
                best.append(((int(mism[i]), float(dev[i])),
                             _fit(tp[i], fp[i], fn[i], tn[i], values, excess, i, reported)))
            best.sort(key=lambda item: item[0])
            del best[n_best:]
    if exact_only and not consistent:
        search += " (best fits among tables within one count of the reported Sen and Spe)"
    sizes = tuple(sorted({(f.n_pos, f.n_neg) for f in consistent}))
    return Reconstruction(reported, tuple(consistent), tuple(f for _, f in best), search, truncated, sizes)


def _fit(tp, fp, fn, tn, values, excess, i, reported) -> Fit:
    return Fit(int(tp), int(fp), int(fn), int(tn),
               {k: float(values[k][i]) for k in reported},
               {k: bool(excess[k][i] == 0) for k in reported},
               float(sum(min(excess[k][i], 1e9) for k in reported)))
