"""Published-table audit: which integer 2×2 tables reproduce reported percentages?

Given reported Sen / Spe / Acc / PPV / NPV (in percent, each with its number of decimals)
and the group sizes (diseased and non-diseased), or only the total, or neither (then up to
``max_n`` per group), every table (TP, FP, FN, TN) whose values round to the reported ones
is listed. A value matches when |100·value − reported| ≤ ½·10^−decimals. If no table
matches all values, the best fits (fewest mismatching values, then smallest deviation in
rounding units) say which reported value is the odd one out.

The search is arithmetic, not a list of every table: each reported value is a window on
a ratio of counts, so for given group sizes and TP the admissible TN form an interval,
and a linear programme over the real-valued table bounds the group sizes worth trying
(and proves, when it is infeasible, that no table of any size fits). Documented limits
(refused beyond, with one line): group sizes, totals and ``max_n`` up to
:data:`MAX_GROUP`; at most :data:`MAX_DECIMALS` decimals; at most :data:`MAX_WORK`
candidate tables examined for the consistent list; best fits are looked for among at most
:data:`BEST_FIT_CELLS` candidate tables, smallest groups first (the search text says how
far it went).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np

from .checks import count

MEASURES = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
MAX_GROUP = 1_000_000  # largest group size, total or --max-n searched
MAX_DECIMALS = 10  # finer than this is beyond what a float ratio of counts ≤ MAX_GROUP can tell
MAX_WORK = 50_000_000  # candidate tables examined for the consistent list
BEST_FIT_CELLS = 30_000_000  # candidate tables scored for the best fits
BEST_FIT_MAX_N = 2000  # without group sizes, best fits are looked for among groups up to this
_CHUNK = 1 << 20  # candidates evaluated at a time (bounded memory)


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
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(f"reported value {value!r} is not a number") from exc
        if not number.is_finite():
            raise ValueError(f"reported value {value!r} is not a finite number")
        if not 0 <= number <= 100:
            raise ValueError(f"reported value {value!r} must be a percentage in [0, 100]")
        places = decimals if decimals is not None else max(0, -number.as_tuple().exponent)
        if not 0 <= int(places) <= MAX_DECIMALS:
            raise ValueError(f"reported value {value!r}: {places} decimals; the audit handles 0 to {MAX_DECIMALS}")
        return cls(float(number), int(places))

    @property
    def half_unit(self) -> float:
        return 0.5 * 10.0 ** (-self.decimals)

    def window(self, widen: float = 1e-9) -> tuple[float, float]:
        """The fractions (0–1) that round to this value, a little widened for float error."""
        h = self.half_unit * (1 + 1e-9) + widen
        return max(0.0, (self.percent - h) / 100.0), min(1.0, (self.percent + h) / 100.0)


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


# each measure as numerator / denominator, linear forms over (TP, FP, FN, TN)
_NUM = {"sensitivity": (1, 0, 0, 0), "specificity": (0, 0, 0, 1), "accuracy": (1, 0, 0, 1),
        "ppv": (1, 0, 0, 0), "npv": (0, 0, 0, 1)}
_DEN = {"sensitivity": (1, 0, 1, 0), "specificity": (0, 1, 0, 1), "accuracy": (1, 1, 1, 1),
        "ppv": (1, 1, 0, 0), "npv": (0, 0, 1, 1)}


def _lp_range(reported: dict, objective, equality) -> tuple[float, float] | None:
    """(min, max) of ``objective``·(TP, FP, FN, TN) over real-valued tables inside every
    (slightly widened) rounding window with ``equality``·table = 1; None if there is none,
    so that no integer table of any size fits either. The max may be inf."""
    from scipy.optimize import linprog

    rows, bounds = [], []
    for key, target in reported.items():
        lo, hi = target.window(widen=1e-7)
        num, den = np.array(_NUM[key], float), np.array(_DEN[key], float)
        rows += [num - hi * den, lo * den - num, -den]
        bounds += [0.0, 0.0, -1e-9]  # inside the window, and a defined ratio (denominator > 0)
    c = np.array(objective, float)
    common = dict(A_ub=np.array(rows), b_ub=np.array(bounds), A_eq=np.array([equality], float),
                  b_eq=np.array([1.0]), bounds=[(0, None)] * 4, method="highs")
    low = linprog(c, **common)
    if low.status == 2:
        return None
    high = linprog(-c, **common)
    upper = math.inf if high.status == 3 or not high.success else -high.fun
    return (low.fun if low.success else 0.0), upper


def _compromise(reported: dict, equality) -> np.ndarray:
    """The real-valued table (TP, FP, FN, TN), ``equality``·table = 1, that strays least outside
    the rounding windows (a linear programme on the total excess); the best-fit search starts
    at the group sizes nearest to it."""
    from scipy.optimize import linprog

    m = len(reported)
    rows, c = [], np.zeros(4 + m)
    for k, (key, target) in enumerate(reported.items()):
        lo, hi = target.window()
        num, den = np.array(_NUM[key], float), np.array(_DEN[key], float)
        slack = np.zeros(m)
        slack[k] = -1.0
        rows += [np.concatenate([num - hi * den, slack]), np.concatenate([lo * den - num, slack]),
                 np.concatenate([-den, np.zeros(m)])]
        c[4 + k] = 1.0 / max(target.half_unit / 100.0, 1e-12)
    b_ub = np.tile([0.0, 0.0, -1e-6], m)
    result = linprog(c, A_ub=np.array(rows), b_ub=b_ub, A_eq=np.array([list(equality) + [0.0] * m], float),
                     b_eq=np.array([1.0]), bounds=[(0, None)] * (4 + m), method="highs")
    return result.x[:4] if result.success else np.array([0.25, 0.25, 0.25, 0.25])


def _flatten(lo: np.ndarray, hi: np.ndarray, chunk: int = _CHUNK):
    """(owner, value) arrays over every integer of every range [lo[i], hi[i]], a chunk at a time."""
    counts = np.maximum(hi - lo + 1, 0).astype(np.int64)
    cum = np.cumsum(counts)
    total = int(cum[-1]) if cum.size else 0
    starts = cum - counts
    for s in range(0, total, chunk):
        idx = np.arange(s, min(total, s + chunk), dtype=np.int64)
        owner = np.searchsorted(cum, idx, side="right")
        yield owner, lo[owner] + (idx - starts[owner])


def _count_range(n_group: np.ndarray, target: ReportedValue | None, slack: int) -> tuple[np.ndarray, np.ndarray]:
    """Numerators x in [0, n] whose x/n lies within ``slack`` counts of the reported window."""
    n_group = np.asarray(n_group, np.int64)
    if target is None:
        return np.zeros_like(n_group), n_group
    lo_f, hi_f = target.window()  # widened beyond float error, so ceil/floor lose no match
    if slack:  # counts around the window (as the best-fit search has always taken them)
        lo = np.floor(n_group * lo_f).astype(np.int64) - slack
        hi = np.ceil(n_group * hi_f).astype(np.int64) + slack
    else:
        lo = np.ceil(n_group * lo_f - 1e-6).astype(np.int64)
        hi = np.floor(n_group * hi_f + 1e-6).astype(np.int64)
    return np.clip(lo, 0, n_group), np.clip(hi, 0, n_group)


def _tn_range(a, tp, b, reported) -> tuple[np.ndarray, np.ndarray]:
    """Every TN that can make the table (TP, b−TN, a−TP, TN) match all windows lies in the
    returned interval (each window, a bound on TN, is widened beyond float error; the exact
    test decides)."""
    a, tp, b = (np.asarray(v, float) for v in (a, tp, b))
    fn = a - tp
    lo, hi = np.zeros_like(b), b.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        if "specificity" in reported:
            s_lo, s_hi = reported["specificity"].window()
            lo, hi = np.maximum(lo, b * s_lo), np.minimum(hi, b * s_hi)
        if "ppv" in reported:  # FP = b − TN between TP(1−hi)/hi and TP(1−lo)/lo
            p_lo, p_hi = reported["ppv"].window()
            if p_hi > 0:
                hi = np.minimum(hi, b - tp * (1 - p_hi) / p_hi)
            if p_lo > 0:
                lo = np.maximum(lo, b - tp * (1 - p_lo) / p_lo)
        if "npv" in reported:  # TN between FN·lo/(1−lo) and FN·hi/(1−hi)
            q_lo, q_hi = reported["npv"].window()
            if q_lo < 1:
                lo = np.maximum(lo, fn * q_lo / (1 - q_lo))
            else:
                lo = np.where(fn > 0, np.inf, lo)
            if q_hi < 1:
                hi = np.minimum(hi, fn * q_hi / (1 - q_hi))
        if "accuracy" in reported:
            c_lo, c_hi = reported["accuracy"].window()
            lo, hi = np.maximum(lo, c_lo * (a + b) - tp), np.minimum(hi, c_hi * (a + b) - tp)
    lo = np.clip(np.ceil(np.nan_to_num(lo, nan=0.0, posinf=1e18, neginf=0.0) - 1e-6), 0, b)
    hi = np.clip(np.floor(np.nan_to_num(hi, nan=-1.0, posinf=1e18, neginf=-1.0) + 1e-6), -1, b)
    return lo.astype(np.int64), hi.astype(np.int64)


def _check_count(name: str, value, limit: int = MAX_GROUP) -> None:
    if value is None:
        return
    count(value, name)
    if value > limit:
        raise ValueError(f"{name} = {value} is beyond the audit's limit of {limit:,} "
                         "(a published table is smaller; see the documented limits)")


def reconstruct(sensitivity=None, specificity=None, accuracy=None, ppv=None, npv=None, *,
                n_pos: int | None = None, n_neg: int | None = None, n: int | None = None,
                decimals: int | None = None, max_n: int = 3000, n_best: int = 5,
                max_tables: int = 1000) -> Reconstruction:
    """Every integer 2×2 table consistent with the reported percentages (see module docs).

    Values may be numbers or strings; a string's decimals are read from it ("34.3" → 1,
    "34.30" → 2) unless ``decimals`` is given. Raises ValueError (one line) for bad input
    and for searches beyond the documented limits.
    """
    given = {k: v for k, v in zip(MEASURES, (sensitivity, specificity, accuracy, ppv, npv)) if v is not None}
    if not given:
        raise ValueError("give at least one reported value (sensitivity, specificity, …)")
    if decimals is not None and (isinstance(decimals, bool) or int(decimals) != decimals
                                 or not 0 <= decimals <= MAX_DECIMALS):
        raise ValueError(f"decimals must be a whole number from 0 to {MAX_DECIMALS}, got {decimals}")
    reported = {k: ReportedValue.parse(v, decimals) for k, v in given.items()}
    if (n_pos is None) != (n_neg is None):
        raise ValueError("give both group sizes (n_pos and n_neg), or the total n, or neither")
    for name, value in (("n_pos", n_pos), ("n_neg", n_neg), ("n", n)):
        _check_count(name, value)
    if n_pos is None and n is None:
        _check_count("max_n", max_n)
        if max_n < 1:
            raise ValueError(f"max_n must be at least 1, got {max_n}")

    if n_pos is not None:
        if n_pos + n_neg == 0:
            raise ValueError("the group sizes add up to zero")
        a_lo = a_hi = int(n_pos)
        search = f"all tables with {n_pos} diseased and {n_neg} non-diseased"
        feasible = _lp_range(reported, (1, 0, 1, 0), (1, 1, 1, 1))
        b_of = lambda a, tp: (np.full(a.shape, int(n_neg)), np.full(a.shape, int(n_neg)))  # noqa: E731
    elif n is not None:
        if n == 0:
            raise ValueError("the total n must be positive")
        n = int(n)
        search = f"all tables of {n} cases"
        feasible = _lp_range(reported, (1, 0, 1, 0), (1, 1, 1, 1))  # the share diseased
        a_lo, a_hi = 0, n
        if feasible is not None:
            a_lo = max(0, math.floor(n * feasible[0]) - 1)
            a_hi = min(n, math.ceil(n * min(feasible[1], 1.0)) + 1)
        b_of = lambda a, tp: (n - a, n - a)  # noqa: E731
    else:
        if "sensitivity" not in reported or "specificity" not in reported:
            raise ValueError("without group sizes, give at least sensitivity and specificity")
        search = f"all tables with up to {max_n} diseased and {max_n} non-diseased"
        feasible = _lp_range(reported, (0, 1, 0, 1), (1, 0, 1, 0))  # non-diseased per diseased
        a_lo, a_hi = 1, int(max_n)
        ratio = feasible or (0.0, 0.0)

        def b_of(a, tp):
            lo = np.floor(a * ratio[0]) - 1
            hi = np.ceil(a * min(ratio[1], 2.0 * MAX_GROUP)) + 1
            return np.clip(lo, 1, max_n).astype(np.int64), np.clip(hi, 0, max_n).astype(np.int64)

    consistent: list[Fit] = []
    truncated = False
    if feasible is None:
        search += " (no real-valued table lies inside every rounding window, so no table of any size fits)"
    else:
        consistent, truncated = _consistent(reported, a_lo, a_hi, b_of, max_tables)
    best: list[Fit] = []
    if not consistent:
        best, scope = _best_fits(reported, n_pos, n_neg, n, max_n, n_best)
        search += scope
    sizes = tuple(sorted({(f.n_pos, f.n_neg) for f in consistent}))
    return Reconstruction(reported, tuple(consistent), tuple(best), search, truncated, sizes)


def _consistent(reported, a_lo, a_hi, b_of, max_tables) -> tuple[list[Fit], bool]:
    """The tables matching every value, smallest diseased group first, at most ``max_tables``."""
    found: list[Fit] = []
    work = 0
    a_values = np.arange(a_lo, a_hi + 1, dtype=np.int64)
    tp_lo, tp_hi = _count_range(a_values, reported.get("sensitivity"), 0)
    for own1, tp in _flatten(tp_lo, tp_hi, 1 << 16):
        a = a_values[own1]
        b_lo, b_hi = b_of(a, tp)
        b_lo, b_hi = np.broadcast_to(b_lo, a.shape), np.broadcast_to(b_hi, a.shape)
        for own2, b in _flatten(b_lo, b_hi):
            a2, tp2 = a[own2], tp[own2]
            tn_lo, tn_hi = _tn_range(a2, tp2, b, reported)
            work += b.size
            for own3, tn in _flatten(tn_lo, tn_hi):
                work += tn.size
                a3, tp3, b3 = a2[own3].astype(float), tp2[own3].astype(float), b[own3].astype(float)
                tn = tn.astype(float)
                fp, fn = b3 - tn, a3 - tp3
                values = _values(tp3, fp, fn, tn)
                excess = {k: _excess(values[k], t) for k, t in reported.items()}
                ok = np.logical_and.reduce([e == 0 for e in excess.values()])
                for i in np.flatnonzero(ok):
                    if len(found) >= max_tables:
                        return found, True
                    found.append(_fit(tp3[i], fp[i], fn[i], tn[i], values, excess, i, reported))
            if work > MAX_WORK:
                raise ValueError(f"the search needs more than {MAX_WORK:,} candidate tables (the audit's "
                                 "limit); give the group sizes (--n-pos/--n-neg) or the total (--n), "
                                 "or a smaller --max-n")
    return found, False


def _best_fits(reported, n_pos, n_neg, n, max_n, n_best) -> tuple[list[Fit], str]:
    """Tables with the fewest mismatching values (then the smallest deviation), among at most
    BEST_FIT_CELLS candidates: the whole grid for given group sizes when it fits, else the
    tables within one count of the reported Sen and Spe, smallest groups first."""
    if n_pos is not None:
        a = np.array([n_pos], np.int64)
        b = np.array([n_neg], np.int64)
        full = (n_pos + 1) * (n_neg + 1) <= BEST_FIT_CELLS
        scope = "" if full else " (best fits among tables within one count of the reported Sen and Spe)"
    elif n is not None:
        # group sizes nearest the real-valued best compromise come first
        tp, fp, fn, tn = _compromise(reported, (1, 1, 1, 1))
        a = np.arange(0, n + 1, dtype=np.int64)
        a = a[np.argsort(np.abs(a - n * (tp + fn)), kind="stable")]
        b = n - a
        full = False
        scope = " (best fits among tables within one count of the reported Sen and Spe)"
    else:
        top = min(int(max_n), BEST_FIT_MAX_N)
        a = np.repeat(np.arange(1, top + 1, dtype=np.int64), top)
        b = np.tile(np.arange(1, top + 1, dtype=np.int64), top)
        tp, fp, fn, tn = _compromise(reported, (1, 0, 1, 0))  # non-diseased per diseased: fp + tn
        order = np.argsort(np.abs(b - a * (fp + tn)) / np.sqrt(a), kind="stable")
        a, b = a[order], b[order]
        full = False
        scope = (" (best fits among tables within one count of the reported Sen and Spe"
                 + (f", groups up to {top}" if top < max_n else "") + ")")
    if full:
        tp_lo, tp_hi = np.zeros_like(a), a
    else:
        tp_lo, tp_hi = _count_range(a, reported.get("sensitivity"), 1)
    best_key: list[tuple] = []
    cells = 0
    stopped_at = None
    for own1, tp in _flatten(tp_lo, tp_hi, 1 << 16):
        a1, b1 = a[own1], b[own1]
        if full:
            tn_lo, tn_hi = np.zeros_like(b1), b1
        else:
            tn_lo, tn_hi = _count_range(b1, reported.get("specificity"), 1)
        for own2, tn in _flatten(tn_lo, tn_hi):
            cells += tn.size
            tp2, a2, b2 = tp[own2].astype(float), a1[own2].astype(float), b1[own2].astype(float)
            tn = tn.astype(float)
            fp, fn = b2 - tn, a2 - tp2
            values = _values(tp2, fp, fn, tn)
            excess = {k: _excess(values[k], t) for k, t in reported.items()}
            mism = sum((e > 0).astype(np.int64) for e in excess.values())
            dev = sum(np.where(np.isinf(e), 1e9, e) for e in excess.values())
            for i in np.lexsort((dev, mism))[:n_best]:
                best_key.append(((int(mism[i]), float(dev[i]), len(best_key)),
                                 _fit(tp2[i], fp[i], fn[i], tn[i], values, excess, i, reported)))
            best_key.sort(key=lambda item: item[0])
            del best_key[n_best:]
        if cells > BEST_FIT_CELLS:
            stopped_at = True
            break
    if stopped_at is not None:
        scope += f" (best-fit search stopped at its limit of {BEST_FIT_CELLS:,} candidate tables)"
    return [f for _, f in best_key], scope


def _fit(tp, fp, fn, tn, values, excess, i, reported) -> Fit:
    return Fit(int(tp), int(fp), int(fn), int(tn),
               {k: float(values[k][i]) for k in reported},
               {k: bool(excess[k][i] == 0) for k in reported},
               float(sum(min(excess[k][i], 1e9) for k in reported)))
