"""Clustered (patient-level) accuracy: several nodes of one patient are not independent.

**Ratio estimators.** Sensitivity, specificity, accuracy, PPV and NPV over all nodes are
ratios p = Σ numerator / Σ denominator (e.g. Sen = Σ TP / Σ diseased nodes). Their
cluster-robust variance is the Taylor linearisation of the ratio (what
``survey::svyratio(~num, ~den, svydesign(ids = ~patient))`` computes):

    Var(p) = K/(K − 1) · Σₖ (nₖ − p·dₖ)² / (Σ d)²

with nₖ, dₖ the numerator and denominator counts of cluster k and K the number of clusters
in the data — every patient, also those with no node in this denominator (a patient with
only benign nodes still counts for sensitivity, as in survey's domain estimation). The 95 %
CI is logit-Wald, expit(logit p ∓ z·SE / (p(1 − p))), so it stays inside (0, 1). The
design effect is SE² / (p(1 − p)/Σ d): how much the clustering inflates the variance over
the binomial one (1 = none). With one node per cluster (K = n nodes) the SE is
√(n/(n − 1)) times the binomial SE: the K/(K − 1) factor is the only difference. At p = 0
or 1 the logit-Wald CI is not defined (SE = 0): the interval falls back to Clopper–Pearson
on the node counts, which ignores the clustering, and the method says so (``fallback``).

**Paired tests.** Durkalski et al. (2003) clustered McNemar: χ² = (Σₖ (bₖ − cₖ))² /
Σₖ (bₖ − cₖ)², 1 df, with bₖ (cₖ) the nodes of patient k that test 1 (test 2) alone calls
positive. Obuchowski (1998) ratio-estimator test for the difference of two correlated
proportions on the same nodes: D = p₁ − p₂ with Var(D) = K/(K − 1) · Σₖ (x₁ₖ − x₂ₖ − D·dₖ)²
/ (Σ d)², the same linearisation as above applied to the difference, χ² = D²/Var(D) and a
Wald CI for D. Sensitivity is compared on the diseased nodes, specificity on the
non-diseased ones (a correct negative call is the success). K counts every cluster in the
data, as for the ratio estimators.

References: Durkalski VL, Palesch YY, Lipsitz SR, Rust PF. Analysis of clustered matched-pair
data. Stat Med 2003;22:2417–28. Obuchowski NA. On the comparison of correlated proportions
for clustered data. Stat Med 1998;17:1495–507. Rao JNK, Scott AJ. A simple method for the
analysis of clustered binary data. Biometrics 1992;48:577–85.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import chdtrc, expit, logit, ndtr

from .checks import zero_one
from .clusters import cluster_codes, per_cluster
from .diagnostic import INDETERMINATE_RULES, _as_binary
from .proportions import clopper_pearson, z_value

RATIO_METHOD = "ratio estimator, cluster-robust SE (Taylor linearisation), logit-Wald CI"
DURKALSKI = "clustered McNemar (Durkalski 2003)"
OBUCHOWSKI = "ratio-estimator test for correlated proportions (Obuchowski 1998)"
MEASURES = ("sensitivity", "specificity", "accuracy", "ppv", "npv")


def _p(p: float) -> str:
    return "NaN" if math.isnan(p) else ("< 0.0001" if p < 1e-4 else f"{p:.4f}")


@dataclass(frozen=True)
class ClusteredProportion:
    """A ratio estimator over clustered units with its cluster-robust SE and CI."""

    estimate: float
    ci_low: float
    ci_high: float
    method: str
    se: float  # cluster-robust
    naive_se: float  # √(p(1 − p)/Σd): units treated as independent
    design_effect: float  # se² / naive_se²
    x: int  # Σ numerator (units)
    n: int  # Σ denominator (units)
    n_clusters: int  # K: every cluster in the data
    fallback: bool = False  # True when the CI is Clopper–Pearson on unit counts
    conf_level: float = 0.95

    def summary(self, percent: bool = True) -> str:
        if math.isnan(self.estimate):
            return f"undefined ({self.x}/{self.n}; {self.method})"
        scale, unit = (100.0, " %") if percent else (1.0, "")
        deff = "—" if math.isnan(self.design_effect) else f"{self.design_effect:.2f}"
        return (f"{self.estimate * scale:.2f}{unit} ({self.conf_level:.0%} CI {self.ci_low * scale:.2f}"
                f"–{self.ci_high * scale:.2f}{unit}; {self.x}/{self.n} in {self.n_clusters} clusters; "
                f"SE {self.se:.4f}, design effect {deff}; {self.method})")

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "method": self.method,
                "se": self.se, "naive_se": self.naive_se, "design_effect": self.design_effect,
                "numerator": self.x, "denominator": self.n, "n_clusters": self.n_clusters,
                "fallback": self.fallback, "conf_level": self.conf_level}


def _ratio(num: np.ndarray, den: np.ndarray, codes: np.ndarray, k: int, conf_level: float) -> ClusteredProportion:
    x, n = int(num.sum()), int(den.sum())
    nan = math.nan
    if n == 0:
        return ClusteredProportion(nan, nan, nan, "undefined: zero denominator", nan, nan, nan, x, n, k,
                                   conf_level=conf_level)
    p = x / n
    naive_se = math.sqrt(p * (1 - p) / n)
    if k >= 2:
        resid = per_cluster(num, codes, k) - p * per_cluster(den, codes, k)
        se = math.sqrt(k / (k - 1) * float(np.dot(resid, resid)) / (n * n))
    else:
        se = nan
    deff = se * se / (naive_se * naive_se) if naive_se > 0 else nan
    if 0 < p < 1 and se > 0:
        centre, half = float(logit(p)), z_value(conf_level) * se / (p * (1 - p))
        low, high = float(expit(centre - half)), float(expit(centre + half))
        return ClusteredProportion(p, low, high, RATIO_METHOD, se, naive_se, deff, x, n, k, False, conf_level)
    low, high = clopper_pearson(x, n, conf_level)
    why = "one cluster only" if k < 2 else "logit-Wald undefined at 0 % or 100 %"
    method = f"clopper-pearson on unit counts ({why}; clustering not accounted for)"
    return ClusteredProportion(p, low, high, method, se, naive_se, deff, x, n, k, True, conf_level)


def clustered_proportion(successes: Sequence, clusters: Sequence, in_denominator: Sequence | None = None,
                         conf_level: float = 0.95) -> ClusteredProportion:
    """Σ successes / Σ in_denominator over units grouped in ``clusters``, cluster-robust.

    ``successes`` and ``in_denominator`` are 0/1 per unit (a success must be in the
    denominator); ``in_denominator`` None means every unit. Every cluster given counts in K.
    """
    num = zero_one(successes, "successes")
    den = np.ones_like(num) if in_denominator is None else zero_one(in_denominator, "in_denominator")
    if num.shape != den.shape:
        raise ValueError(f"successes and in_denominator differ in length ({num.shape[0]} vs {den.shape[0]})")
    bad = np.flatnonzero((num == 1) & (den == 0))
    if bad.size:
        raise ValueError(f"successes: position {bad[0]} is a success outside the denominator")
    codes, k = cluster_codes(clusters, num.shape[0])
    z_value(conf_level)
    return _ratio(num, den, codes, k, conf_level)


@dataclass(frozen=True)
class ClusteredMetrics:
    """Sen, Spe, Acc, PPV and NPV as cluster-robust ratio estimators."""

    sensitivity: ClusteredProportion
    specificity: ClusteredProportion
    accuracy: ClusteredProportion
    ppv: ClusteredProportion
    npv: ClusteredProportion
    n_units: int
    n_clusters: int
    conf_level: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        names = {"sensitivity": "Sensitivity", "specificity": "Specificity", "accuracy": "Accuracy",
                 "ppv": "PPV", "npv": "NPV"}
        lines = [f"{self.n_units} units in {self.n_clusters} clusters"]
        lines += [f"{names[key]:<12} {getattr(self, key).summary()}" for key in MEASURES]
        lines.extend(self.notes)
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {key: getattr(self, key).as_dict() for key in MEASURES}


def _binary_calls(test: Sequence, indeterminate: str, what: str = "test") -> np.ndarray:
    if indeterminate not in INDETERMINATE_RULES:
        raise ValueError(f"indeterminate must be one of {', '.join(INDETERMINATE_RULES)}")
    t = _as_binary(list(test), what, allow_indeterminate=True).astype(np.int64)
    if indeterminate == "positive":
        t[t == -1] = 1
    elif indeterminate == "negative":
        t[t == -1] = 0
    return t


def clustered_metrics(gold: Sequence, test: Sequence, clusters: Sequence, *, indeterminate: str = "exclude",
                      conf_level: float = 0.95) -> ClusteredMetrics:
    """All five ratio estimators of one index test, with cluster-robust CIs.

    Labels and calls are 1/0 or malignant/benign; indeterminate calls are counted as
    positive or negative or excluded (the excluded units' clusters still count in K, as
    every patient in the data does).
    """
    if not len(gold) == len(test) == len(clusters):
        raise ValueError(f"lengths differ: gold {len(gold)}, test {len(test)}, clusters {len(clusters)}")
    g = _as_binary(list(gold), "gold", allow_indeterminate=False).astype(np.int64)
    t = _binary_calls(test, indeterminate)
    codes, k = cluster_codes(clusters, g.shape[0])
    z_value(conf_level)
    notes = []
    decided = t != -1
    if (~decided).any():
        notes.append(f"{int((~decided).sum())} indeterminate call(s) excluded "
                     f"({int(g[~decided].sum())} diseased); their clusters stay in K.")
    pos, neg = (t == 1) & decided, (t == 0) & decided
    sick, well = (g == 1) & decided, (g == 0) & decided
    tp, tn = (pos & sick).astype(float), (neg & well).astype(float)
    parts = {
        "sensitivity": (tp, sick), "specificity": (tn, well), "accuracy": (tp + tn, decided),
        "ppv": (tp, pos), "npv": (tn, neg)}
    results = {key: _ratio(num, den.astype(float), codes, k, conf_level) for key, (num, den) in parts.items()}
    return ClusteredMetrics(**results, n_units=int(g.shape[0]), n_clusters=k, conf_level=conf_level,
                            notes=tuple(notes))


@dataclass(frozen=True)
class ClusteredMcNemar:
    """Durkalski's clustered McNemar test."""

    statistic: float
    p_value: float
    b: int
    c: int
    n_clusters: int  # clusters with at least one unit in the comparison
    discordant_clusters: int  # clusters with bₖ ≠ cₖ
    method: str = DURKALSKI

    def summary(self) -> str:
        return (f"b = {self.b}, c = {self.c} over {self.n_clusters} clusters ({self.discordant_clusters} with "
                f"bₖ ≠ cₖ): χ² = {self.statistic:.4f}, p = {_p(self.p_value)} ({self.method})")

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "p_value": self.p_value, "method": self.method, "b": self.b,
                "c": self.c, "n_clusters": self.n_clusters, "discordant_clusters": self.discordant_clusters}


def _durkalski(x1: np.ndarray, x2: np.ndarray, domain: np.ndarray, codes: np.ndarray, k: int) -> ClusteredMcNemar:
    b_unit = ((x1 == 1) & (x2 == 0) & domain).astype(float)
    c_unit = ((x1 == 0) & (x2 == 1) & domain).astype(float)
    diff = per_cluster(b_unit, codes, k) - per_cluster(c_unit, codes, k)
    denom = float(np.dot(diff, diff))
    present = int(np.count_nonzero(np.bincount(codes[domain], minlength=k))) if domain.any() else 0
    if denom == 0:
        # no cluster has bₖ ≠ cₖ: no evidence of a difference, and the statistic is 0/0
        stat, p = math.nan, 1.0
    else:
        stat = float(diff.sum()) ** 2 / denom
        p = float(chdtrc(1, stat))
    return ClusteredMcNemar(stat, p, int(b_unit.sum()), int(c_unit.sum()), present,
                            int(np.count_nonzero(diff)))


def clustered_mcnemar(test1: Sequence, test2: Sequence, clusters: Sequence) -> ClusteredMcNemar:
    """Durkalski et al. (2003): two binary tests on the same units, units grouped in clusters."""
    if not len(test1) == len(test2) == len(clusters):
        raise ValueError(f"lengths differ: test1 {len(test1)}, test2 {len(test2)}, clusters {len(clusters)}")
    x1 = _as_binary(list(test1), "test1", False).astype(np.int64)
    x2 = _as_binary(list(test2), "test2", False).astype(np.int64)
    codes, k = cluster_codes(clusters, x1.shape[0])
    return _durkalski(x1, x2, np.ones(x1.shape[0], dtype=bool), codes, k)


@dataclass(frozen=True)
class CorrelatedProportionsTest:
    """Obuchowski's (1998) test of p₁ − p₂ for two proportions on the same clustered units."""

    p1: float
    p2: float
    difference: float
    se: float
    statistic: float  # χ², 1 df (= z²)
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    n: int  # units in the denominator
    n_clusters: int  # K
    method: str = OBUCHOWSKI
    conf_level: float = 0.95

    def summary(self) -> str:
        return (f"{self.p1:.4f} vs {self.p2:.4f}: difference {self.difference:.4f} ({self.conf_level:.0%} CI "
                f"{self.ci_low:.4f} to {self.ci_high:.4f}), χ² = {self.statistic:.4f}, p = {_p(self.p_value)} "
                f"(n = {self.n} in {self.n_clusters} clusters; {self.method})")

    def as_dict(self) -> dict:
        return {"p1": self.p1, "p2": self.p2, "difference": self.difference, "se": self.se,
                "statistic": self.statistic, "z": self.z, "p_value": self.p_value, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "n": self.n, "n_clusters": self.n_clusters, "method": self.method}


def _obuchowski(x1: np.ndarray, x2: np.ndarray, domain: np.ndarray, codes: np.ndarray, k: int,
                conf_level: float) -> CorrelatedProportionsTest:
    den = domain.astype(float)
    n = int(den.sum())
    nan = math.nan
    if n == 0:
        return CorrelatedProportionsTest(nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, k, conf_level=conf_level)
    s1, s2 = (x1 * den), (x2 * den)
    p1, p2 = float(s1.sum()) / n, float(s2.sum()) / n
    diff = p1 - p2
    if k < 2:
        return CorrelatedProportionsTest(p1, p2, diff, nan, nan, nan, nan, nan, nan, n, k, conf_level=conf_level)
    resid = per_cluster(s1 - s2, codes, k) - diff * per_cluster(den, codes, k)
    var = k / (k - 1) * float(np.dot(resid, resid)) / (n * n)
    if var <= 0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p, se, half = (1.0 if diff == 0 else 0.0), 0.0, 0.0
    else:
        se = math.sqrt(var)
        z = diff / se
        p = float(2 * ndtr(-abs(z)))
        half = z_value(conf_level) * se
    return CorrelatedProportionsTest(p1, p2, diff, se, z * z, z, p, diff - half, diff + half, n, k,
                                     conf_level=conf_level)


def correlated_proportions_test(successes1: Sequence, successes2: Sequence, clusters: Sequence,
                                in_denominator: Sequence | None = None,
                                conf_level: float = 0.95) -> CorrelatedProportionsTest:
    """Obuchowski (1998): p₁ − p₂, two 0/1 outcomes on the same units, cluster-robust."""
    x1 = np.asarray(successes1, dtype=np.float64)
    x2 = np.asarray(successes2, dtype=np.float64)
    den = np.ones(x1.shape[0], dtype=bool) if in_denominator is None else np.asarray(in_denominator).astype(bool)
    if not x1.shape[0] == x2.shape[0] == den.shape[0]:
        raise ValueError("successes1, successes2 and in_denominator differ in length")
    codes, k = cluster_codes(clusters, x1.shape[0])
    z_value(conf_level)
    return _obuchowski(x1, x2, den, codes, k, conf_level)


@dataclass(frozen=True)
class ClusteredPairedTest:
    """One paired comparison done both ways: Durkalski's McNemar and Obuchowski's test."""

    durkalski: ClusteredMcNemar
    obuchowski: CorrelatedProportionsTest

    def as_dict(self) -> dict:
        return {"durkalski": self.durkalski.as_dict(), "obuchowski": self.obuchowski.as_dict()}


@dataclass(frozen=True)
class ClusteredPairedComparison:
    """Calls (all units), sensitivity (diseased) and specificity (non-diseased) compared."""

    overall: ClusteredPairedTest
    sensitivity: ClusteredPairedTest
    specificity: ClusteredPairedTest
    n_units: int
    n_clusters: int
    n_diseased: int
    n_healthy: int

    def summary(self) -> str:
        lines = [f"{self.n_units} units in {self.n_clusters} clusters"]
        for name, t in (("positive calls", self.overall), (f"sensitivity (n = {self.n_diseased})", self.sensitivity),
                        (f"specificity (n = {self.n_healthy})", self.specificity)):
            lines.append(f"{name}: {t.obuchowski.summary()}")
            lines.append(f"{' ' * len(name)}  {t.durkalski.summary()}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"overall": self.overall.as_dict(), "sensitivity": self.sensitivity.as_dict(),
                "specificity": self.specificity.as_dict(), "n_units": self.n_units, "n_clusters": self.n_clusters}


def compare_paired_clustered(gold: Sequence, test1: Sequence, test2: Sequence, clusters: Sequence,
                             conf_level: float = 0.95) -> ClusteredPairedComparison:
    """Two binary tests on the same clustered units: positive-call rate, sensitivity and specificity.

    Sensitivity compares positive calls on the diseased units; specificity compares correct
    negative calls on the non-diseased units; each by Durkalski and by Obuchowski.
    """
    if not len(gold) == len(test1) == len(test2) == len(clusters):
        raise ValueError(f"lengths differ: gold {len(gold)}, test1 {len(test1)}, test2 {len(test2)}, "
                         f"clusters {len(clusters)}")
    g = _as_binary(list(gold), "gold", False).astype(np.int64)
    t1 = _as_binary(list(test1), "test1", False).astype(np.int64)
    t2 = _as_binary(list(test2), "test2", False).astype(np.int64)
    codes, k = cluster_codes(clusters, g.shape[0])
    z_value(conf_level)
    every, sick, well = np.ones(g.shape[0], dtype=bool), g == 1, g == 0

    def both(x1, x2, domain):
        return ClusteredPairedTest(_durkalski(x1, x2, domain, codes, k),
                                   _obuchowski(x1.astype(float), x2.astype(float), domain, codes, k, conf_level))

    return ClusteredPairedComparison(both(t1, t2, every), both(t1, t2, sick), both(1 - t1, 1 - t2, well),
                                     int(g.shape[0]), k, int(sick.sum()), int(well.sum()))
