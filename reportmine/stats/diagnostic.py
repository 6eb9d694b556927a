"""One index test against the reference standard: the 2×2 table and its accuracy measures.

Defaults follow MedCalc (the paper's software): Clopper–Pearson intervals for sensitivity,
specificity and accuracy; the standard logit interval (Mercaldo et al. 2007) for PPV and
NPV, with Clopper–Pearson at 0 % or 100 %; likelihood ratios with the log method of
Simel, Samsa & Matchar (1991). Formulas, correctly: Sen = TP/(TP+FN), Spe = TN/(TN+FP).

Likelihood ratios with a zero cell follow epiR (IEEE arithmetic, no correction):
FP = 0 gives LR+ = ∞ with CI (NaN, ∞); TP = 0 gives LR+ = 0 with CI (0, NaN); likewise
TN / FN for LR−. ``lr_correction=True`` adds 0.5 to every cell of a table that has a zero
cell (Haldane–Anscombe), and the method name says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from . import checks
from .proportions import Proportion, normalize_method, proportion_ci, z_value

INDETERMINATE_RULES = ("positive", "negative", "exclude")


@dataclass(frozen=True)
class IndeterminateRecord:
    """How indeterminate index-test results were handled (STARD item 15)."""

    rule: str  # positive | negative | exclude
    count: int
    diseased: int  # of them, how many had the target condition
    positions: tuple[int, ...] = ()  # their positions in the input


@dataclass(frozen=True)
class TwoByTwo:
    tp: int
    fp: int
    fn: int
    tn: int
    indeterminate: IndeterminateRecord | None = None

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn", "tn"):
            object.__setattr__(self, name, checks.count(getattr(self, name), name.upper()))

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def n_diseased(self) -> int:
        return self.tp + self.fn

    @property
    def n_healthy(self) -> int:
        return self.fp + self.tn

    def summary(self) -> str:
        lines = ["                 reference +  reference -",
                 f"index test +     {self.tp:>11}  {self.fp:>11}",
                 f"index test -     {self.fn:>11}  {self.tn:>11}"]
        if self.indeterminate and self.indeterminate.count:
            r = self.indeterminate
            lines.append(f"indeterminate: {r.count} ({r.diseased} diseased) counted as {r.rule}")
        return "\n".join(lines)

# A prevalence re-weights PPV and NPV on the logit scale; closer to 0 or 1 than this the
# logit CI of Mercaldo et al. (2007) leaves floating point (1e-320 overflowed). One in a
# million is rarer than any condition a diagnostic study is run for.
MIN_PREVALENCE = 1e-6


def _as_binary(values: Sequence, what: str, allow_indeterminate: bool) -> np.ndarray:
    """1 / 0 / -1 (indeterminate) from numbers or words; errors name the first bad position."""
    return checks.labels(values, what, indeterminate=allow_indeterminate)


def two_by_two(gold: Sequence, test: Sequence, *, indeterminate: str = "exclude") -> TwoByTwo:
    """Cross-tabulate test calls against gold labels.

    Labels are 1/0, true/false or malignant/benign (positive/negative). Test calls may also
    be "indeterminate"; ``indeterminate`` says whether they count as positive, negative or
    are excluded, and the result records how many and which (never silently dropped).
    """
    if indeterminate not in INDETERMINATE_RULES:
        raise ValueError(f"indeterminate must be one of {', '.join(INDETERMINATE_RULES)}")
    if len(gold) != len(test):
        raise ValueError(f"gold and test differ in length ({len(gold)} vs {len(test)})")
    g = _as_binary(list(gold), "gold", allow_indeterminate=False)
    t = _as_binary(list(test), "test", allow_indeterminate=True)
    undecided = np.flatnonzero(t == -1)
    record = IndeterminateRecord(indeterminate, int(undecided.size), int(g[undecided].sum()),
                                 tuple(int(i) for i in undecided))
    if indeterminate == "positive":
        t = np.where(t == -1, 1, t)
    elif indeterminate == "negative":
        t = np.where(t == -1, 0, t)
    else:
        keep = t != -1
        g, t = g[keep], t[keep]
    return TwoByTwo(
        tp=int(((t == 1) & (g == 1)).sum()),
        fp=int(((t == 1) & (g == 0)).sum()),
        fn=int(((t == 0) & (g == 1)).sum()),
        tn=int(((t == 0) & (g == 0)).sum()),
        indeterminate=record,
    )


@dataclass(frozen=True)
class Ratio:
    """A likelihood ratio with its CI (may be ∞ or NaN by the documented zero-cell rule)."""

    estimate: float
    ci_low: float
    ci_high: float
    method: str
    conf_level: float = 0.95

    def summary(self) -> str:
        return f"{_fmt(self.estimate)} ({self.conf_level:.0%} CI {_fmt(self.ci_low)}–{_fmt(self.ci_high)}; {self.method})"

    def as_dict(self) -> dict:
        return asdict(self)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.2f}"


def likelihood_ratios(table: TwoByTwo, conf_level: float = 0.95, correction: bool = False) -> tuple[Ratio, Ratio]:
    """(LR+, LR−) with log-method CIs (Simel, Samsa & Matchar 1991), as epiR computes them."""
    z = z_value(conf_level)
    tp, fp, fn, tn = table.tp, table.fp, table.fn, table.tn
    method = "log method (Simel 1991)"
    if correction and 0 in (tp, fp, fn, tn):
        tp, fp, fn, tn = (v + 0.5 for v in (tp, fp, fn, tn))
        method += ", +0.5 to every cell (zero cell)"
    with np.errstate(divide="ignore", invalid="ignore"):
        n1, n0 = np.float64(tp + fn), np.float64(fp + tn)
        se, sp = np.float64(tp) / n1, np.float64(tn) / n0
        lr_pos = se / (1 - sp)
        lr_neg = (1 - se) / sp
        se_pos = np.sqrt((1 - se) / n1 / se + sp / n0 / (1 - sp))
        se_neg = np.sqrt(se / n1 / (1 - se) + (1 - sp) / n0 / sp)
        pos = (float(lr_pos), float(np.exp(np.log(lr_pos) - z * se_pos)), float(np.exp(np.log(lr_pos) + z * se_pos)))
        neg = (float(lr_neg), float(np.exp(np.log(lr_neg) - z * se_neg)), float(np.exp(np.log(lr_neg) + z * se_neg)))
    return Ratio(*pos, method, conf_level), Ratio(*neg, method, conf_level)


def _adjusted_predictive(se: Proportion, sp: Proportion, prevalence: float, conf_level: float,
                         positive: bool) -> Proportion:
    """PPV or NPV at a given prevalence (Bayes) with the Mercaldo et al. (2007) logit CI."""
    s, c, p = se.estimate, sp.estimate, prevalence
    n1, n0 = se.n, sp.n
    nan = float("nan")
    if positive:
        num, den = s * p, s * p + (1 - c) * (1 - p)
        var_terms = ((1 - s) / (s * n1) if s > 0 else math.inf) + (c / ((1 - c) * n0) if c < 1 else math.inf)
    else:
        num, den = c * (1 - p), c * (1 - p) + (1 - s) * p
        var_terms = ((s / ((1 - s) * n1)) if s < 1 else math.inf) + (((1 - c) / (c * n0)) if c > 0 else math.inf)
    name = "PPV" if positive else "NPV"
    if den == 0 or math.isnan(s) or math.isnan(c):
        return Proportion(nan, nan, nan, f"undefined {name} at prevalence {p:g}", 0, 0, conf_level)
    estimate = num / den
    if not 0 < estimate < 1 or math.isinf(var_terms):
        return Proportion(estimate, nan, nan, f"Bayes at prevalence {p:g}; CI undefined (a 0 % / 100 % input)",
                          0, 0, conf_level)
    z = z_value(conf_level)
    centre = math.log(estimate / (1 - estimate))
    half = z * math.sqrt(var_terms)
    low, high = 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))
    return Proportion(estimate, low, high, f"Bayes at prevalence {p:g}, logit CI (Mercaldo 2007)",
                      se.x if positive else sp.x, n1 + n0, conf_level)


def _adjusted_accuracy(se: Proportion, sp: Proportion, prevalence: float, conf_level: float) -> Proportion:
    p = prevalence
    estimate = se.estimate * p + sp.estimate * (1 - p)
    var = p * p * se.estimate * (1 - se.estimate) / se.n + (1 - p) ** 2 * sp.estimate * (1 - sp.estimate) / sp.n
    half = z_value(conf_level) * math.sqrt(var)
    return Proportion(estimate, max(0.0, estimate - half), min(1.0, estimate + half),
                      f"prevalence-weighted (prevalence {p:g}), Wald via delta method", 0, se.n + sp.n, conf_level)


@dataclass(frozen=True)
class DiagnosticMetrics:
    """Sen, Spe, Acc, PPV, NPV, LR+ and LR− of one 2×2 table, each with its CI and method."""

    table: TwoByTwo
    sensitivity: Proportion
    specificity: Proportion
    accuracy: Proportion
    ppv: Proportion
    npv: Proportion
    lr_positive: Ratio
    lr_negative: Ratio
    prevalence: float  # the prevalence PPV/NPV/accuracy refer to
    prevalence_source: str  # "sample" or "given"
    conf_level: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    PROPORTIONS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
    RATIOS = ("lr_positive", "lr_negative")

    def summary(self) -> str:
        names = {"sensitivity": "Sensitivity", "specificity": "Specificity", "accuracy": "Accuracy",
                 "ppv": "PPV", "npv": "NPV", "lr_positive": "LR+", "lr_negative": "LR−"}
        lines = [self.table.summary(), ""]
        for key in self.PROPORTIONS + self.RATIOS:
            lines.append(f"{names[key]:<12} {getattr(self, key).summary()}")
        lines.append(f"prevalence   {self.prevalence:.4f} ({self.prevalence_source})")
        lines.extend(self.notes)
        return "\n".join(lines)

    def as_dict(self) -> dict:
        out = {}
        for key in self.PROPORTIONS + self.RATIOS:
            item = getattr(self, key)
            out[key] = {"estimate": item.estimate, "ci_low": item.ci_low, "ci_high": item.ci_high,
                        "method": item.method}
        return out


def diagnostic_metrics(tp: int | TwoByTwo, fp: int | None = None, fn: int | None = None, tn: int | None = None,
                       *, ci_method: str | None = None, prevalence: float | None = None,
                       conf_level: float = 0.95, lr_correction: bool = False) -> DiagnosticMetrics:
    """All accuracy measures of a 2×2 table (counts or a :class:`TwoByTwo`).

    ``ci_method`` None gives MedCalc's defaults (Clopper–Pearson; logit for PPV/NPV);
    a method name applies it to all five proportions. ``prevalence`` re-weights PPV, NPV and
    accuracy to a clinic's prevalence (Bayes) instead of the sample's.
    """
    table = tp if isinstance(tp, TwoByTwo) else TwoByTwo(tp, fp, fn, tn)
    base = normalize_method(ci_method) if ci_method else "clopper-pearson"
    predictive = normalize_method(ci_method) if ci_method else "logit"
    se = proportion_ci(table.tp, table.n_diseased, base, conf_level)
    sp = proportion_ci(table.tn, table.n_healthy, base, conf_level)
    notes = []
    if prevalence is None:
        acc = proportion_ci(table.tp + table.tn, table.n, base, conf_level)
        ppv = proportion_ci(table.tp, table.tp + table.fp, predictive, conf_level)
        npv = proportion_ci(table.tn, table.tn + table.fn, predictive, conf_level)
        prev, source = (table.n_diseased / table.n if table.n else float("nan")), "sample"
    else:
        if not MIN_PREVALENCE <= prevalence <= 1 - MIN_PREVALENCE:
            raise ValueError(f"prevalence must lie in [{MIN_PREVALENCE:g}, 1 − {MIN_PREVALENCE:g}] "
                             f"(0.0001 % to 99.9999 %), got {prevalence}")
        acc = _adjusted_accuracy(se, sp, prevalence, conf_level)
        ppv = _adjusted_predictive(se, sp, prevalence, conf_level, positive=True)
        npv = _adjusted_predictive(se, sp, prevalence, conf_level, positive=False)
        prev, source = prevalence, "given"
        notes.append("PPV, NPV and accuracy are re-weighted to the given prevalence (Bayes).")
    lr_pos, lr_neg = likelihood_ratios(table, conf_level, lr_correction)
    if table.indeterminate and table.indeterminate.count:
        r = table.indeterminate
        notes.append(f"{r.count} indeterminate index-test result(s) ({r.diseased} diseased) "
                     f"{'excluded' if r.rule == 'exclude' else 'counted as ' + r.rule}.")
    return DiagnosticMetrics(table, se, sp, acc, ppv, npv, lr_pos, lr_neg, prev, source, conf_level, tuple(notes))
