"""Obuchowski–Rockette analysis of a factorial reader study, as MRMCaov 0.3.0 computes it.

Model (Obuchowski & Rockette 1995): the metric of reader j in test i is
``θ_ij = μ + τ_i + R_j + (τR)_ij + ε_ij``; the errors ε (from the case sample) have variance
``Error`` and covariances ``Cov1`` (same reader, different tests), ``Cov2`` (same test,
different readers) and ``Cov3`` (different test and reader), each estimated as the mean of the
matching entries of the metric covariance matrix (:mod:`.covariance`). With the mean squares of
the test × reader two-way ANOVA of the θ_ij (``MS(T)``, ``MS(R)``, ``MS(T:R)``):

- reader variance ``(MS(R) − MS(T:R))/t − Cov1 + Cov3``, test × reader variance
  ``MS(T:R) − Error + Cov1 + Cov2 − Cov3`` (may be negative; reported as estimated);
- random readers and cases (Hillis 2007): ``F = MS(T) / (MS(T:R) + r·max(Cov2 − Cov3, 0))``
  on ``t − 1`` and ``ddf_H = denominator² / (MS(T:R)²/((t − 1)(r − 1)))`` degrees of freedom;
  each difference has SE ``√(2/r · denominator)`` and ``ddf_H``; a test's own mean has SE
  ``√(MS(R)_i/r + max(Cov2_i, 0))`` and df ``(MS(R)_i + r·max(Cov2_i, 0))² / (MS(R)_i²/(r − 1))``;
- fixed readers: ``X² = (t − 1)·MS(T) / (Error − Cov1 + (r − 1)(Cov2 − Cov3))`` on t − 1 df,
  z-based differences with SE ``√(2/r · denominator)``; a test's mean has SE
  ``√((Error_i + (r − 1)·max(Cov2_i, 0))/r)``;
- fixed cases: the conventional ANOVA ``F = MS(T)/MS(T:R)`` on t − 1 and (t − 1)(r − 1) df,
  differences with SE ``√(2/r · MS(T:R))``, a test's mean with SE ``√(MS(R)_i/r)`` on r − 1 df.

Confidence limits of a test's mean are clipped to [0, 1]; those of differences are not.
p-values are computed as R does (``1 − pf(...)``). Per-reader differences use the reader's own
covariance (``Var_a + Var_b − 2·Cov_ab``), z-based (random cases, that reader alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats as st

from .covariance import COVARIANCE_METHODS, METRICS, metric_covariance, reader_metrics
from .study import ReaderStudy

FIXED = ("none", "readers", "cases")
METRIC_NAMES = {"auc": "empirical AUC", "sensitivity": "sensitivity", "specificity": "specificity"}
COVARIANCE_NAMES = {"jackknife": "jackknife", "delong": "DeLong", "unbiased": "unbiased (Gallas)"}
FACTOR_TYPES = {"none": "random readers and random cases", "readers": "fixed readers, random cases",
                "cases": "random readers, fixed cases"}


def _ratio(numerator: float, denominator: float) -> float:
    """IEEE division as R does it: x/0 is ±Inf, 0/0 is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(numerator) / np.float64(denominator))


def _sqrt(value: float) -> float:
    return math.sqrt(value) if value >= 0 else math.nan


@dataclass(frozen=True)
class VarianceComponents:
    """Obuchowski–Rockette variance and covariance components."""

    reader: float
    test_reader: float
    error: float
    cov1: float
    cov2: float
    cov3: float

    def as_dict(self) -> dict:
        return {"reader": self.reader, "test_reader": self.test_reader, "error": self.error,
                "cov1": self.cov1, "cov2": self.cov2, "cov3": self.cov3}

    def correlations(self) -> dict:
        """Cov1–3 as correlations (each divided by the error variance)."""
        return {name: _ratio(value, self.error) for name, value in
                (("cov1", self.cov1), ("cov2", self.cov2), ("cov3", self.cov3))}


@dataclass(frozen=True)
class GlobalTest:
    """The test of equal mean performance across tests: F (random readers) or X² (fixed readers)."""

    name: str  # "F" or "X2"
    statistic: float
    df1: int
    df2: float | None  # F only
    p_value: float
    ms_test: float
    ms_test_reader: float
    denominator: float
    method: str

    def as_dict(self) -> dict:
        out = {"statistic": self.statistic, "df1": self.df1}
        if self.df2 is not None:
            out["df2"] = self.df2
        return out | {"p_value": self.p_value, "name": self.name, "ms_test": self.ms_test,
                      "ms_test_reader": self.ms_test_reader, "denominator": self.denominator,
                      "method": self.method}


@dataclass(frozen=True)
class Difference:
    """One pairwise difference of test means, "A − B"."""

    comparison: str
    estimate: float
    se: float
    df: float | None  # None: z-based (fixed readers)
    ci_low: float
    ci_high: float
    statistic: float  # t (or z)
    p_value: float

    def as_dict(self) -> dict:
        return {"comparison": self.comparison, "estimate": self.estimate, "se": self.se, "df": self.df,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value,
                "statistic": self.statistic}


@dataclass(frozen=True)
class TestMean:
    """A test's mean performance over readers, with its single-test CI."""

    __test__ = False  # not a pytest class

    test: str
    estimate: float
    se: float
    df: float | None  # None: normal-based (fixed readers)
    ci_low: float
    ci_high: float
    ms_reader: float  # MS(R) of this test's reader values
    var_error: float  # mean error variance of this test's reader metrics
    cov2: float  # mean covariance between two readers' metrics in this test

    def as_dict(self) -> dict:
        return {"test": self.test, "estimate": self.estimate, "se": self.se, "df": self.df,
                "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class ReaderDifference:
    """One reader's difference between two tests (that reader alone, random cases, z-based)."""

    reader: str
    comparison: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float

    def as_dict(self) -> dict:
        return {"reader": self.reader, "comparison": self.comparison, "estimate": self.estimate, "se": self.se,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value}


@dataclass(frozen=True)
class MRMCResult:
    """The whole analysis; ``summary()`` is the readable table, ``as_dict()`` the JSON."""

    metric: str
    covariance_method: str
    fixed: str
    conf_level: float
    tests: tuple[str, ...]
    readers: tuple[str, ...]
    n_cases: int
    n_positive: int
    n_negative: int
    reader_values: tuple[tuple[float, ...], ...]  # [test][reader]
    covariance: tuple[tuple[float, ...], ...]  # reader × test metrics, test-major
    variance_components: VarianceComponents | None  # None when cases are fixed
    global_test: GlobalTest
    differences: tuple[Difference, ...]
    test_means: tuple[TestMean, ...]
    reader_differences: tuple[ReaderDifference, ...]

    @property
    def method_sentence(self) -> str:
        covariance = ("" if self.fixed == "cases" else
                      f", {COVARIANCE_NAMES[self.covariance_method]} covariance of the reader metrics")
        ddf = {"none": " with Hillis' (2007) denominator degrees of freedom",
               "readers": " (chi-square test)", "cases": " (conventional ANOVA F test)"}[self.fixed]
        return (f"Obuchowski–Rockette analysis of the {METRIC_NAMES[self.metric]}{ddf}; "
                f"{FACTOR_TYPES[self.fixed]}{covariance}.")

    def as_dict(self) -> dict:
        out = {
            "metric": self.metric, "covariance": self.covariance_method, "fixed": self.fixed,
            "conf_level": self.conf_level, "method": self.method_sentence,
            "n_tests": len(self.tests), "n_readers": len(self.readers), "n_cases": self.n_cases,
            "n_positive": self.n_positive, "n_negative": self.n_negative,
        }
        if self.variance_components is not None:
            out["variance_components"] = self.variance_components.as_dict()
            out["correlations"] = self.variance_components.correlations()
        out["global_test"] = self.global_test.as_dict()
        out["differences"] = [d.as_dict() for d in self.differences]
        out["tests"] = [m.as_dict() for m in self.test_means]
        out["readers"] = [{"test": t, "reader": r, "estimate": self.reader_values[i][j]}
                          for i, t in enumerate(self.tests) for j, r in enumerate(self.readers)]
        out["reader_differences"] = [d.as_dict() for d in self.reader_differences]
        return out

    def summary(self) -> str:
        level = f"{self.conf_level:.0%}"
        g = self.global_test
        lines = [self.method_sentence,
                 f"{len(self.tests)} tests, {len(self.readers)} readers, {self.n_cases} cases "
                 f"({self.n_positive} diseased, {self.n_negative} non-diseased).", ""]
        if self.variance_components is not None:
            lines.append("Variance components: " + ", ".join(
                f"{k} {v:.6g}" for k, v in self.variance_components.as_dict().items()))
        df = f"{g.df1}, {g.df2:.2f}" if g.df2 is not None else f"{g.df1}"
        lines += [f"Equal tests: {g.name}({df}) = {g.statistic:.4f}, p = {g.p_value:.4g}", "",
                  f"{'test':<20} {'estimate':>9} {'SE':>8} {'df':>7}  {level} CI"]
        for m in self.test_means:
            dfs = f"{m.df:7.2f}" if m.df is not None else f"{'z':>7}"
            lines.append(f"{m.test:<20} {m.estimate:9.4f} {m.se:8.4f} {dfs}  {m.ci_low:.4f} to {m.ci_high:.4f}")
        lines += ["", f"{'difference':<20} {'estimate':>9} {'SE':>8} {'df':>7}  {level} CI{'':<16} p"]
        for d in self.differences:
            dfs = f"{d.df:7.2f}" if d.df is not None else f"{'z':>7}"
            lines.append(f"{d.comparison:<20} {d.estimate:9.4f} {d.se:8.4f} {dfs}  "
                         f"{d.ci_low:.4f} to {d.ci_high:.4f}  {d.p_value:.4g}")
        lines += ["", "Per reader (" + METRIC_NAMES[self.metric] + "):",
                  f"{'reader':<12}" + "".join(f" {t:>12}" for t in self.tests)]
        for j, r in enumerate(self.readers):
            lines.append(f"{r:<12}" + "".join(f" {self.reader_values[i][j]:12.4f}" for i in range(len(self.tests))))
        return "\n".join(lines)


def _mean_squares(values: np.ndarray) -> tuple[float, float, float]:
    """MS(T), MS(R), MS(T:R) of the tests × readers table (one value per cell)."""
    t, r = values.shape
    grand = values.mean()
    test_means = values.mean(axis=1)
    reader_means = values.mean(axis=0)
    ms_t = r * float(((test_means - grand) ** 2).sum()) / (t - 1)
    ms_r = t * float(((reader_means - grand) ** 2).sum()) / (r - 1)
    inter = values - test_means[:, None] - reader_means[None, :] + grand
    ms_tr = float((inter ** 2).sum()) / ((t - 1) * (r - 1))
    return ms_t, ms_r, ms_tr


def _components(cov: np.ndarray, tests: np.ndarray, readers: np.ndarray) -> tuple[float, float, float, float]:
    """Error variance and Cov1, Cov2, Cov3: means of the matching covariance entries."""
    same_test = tests[:, None] == tests[None, :]
    same_reader = readers[:, None] == readers[None, :]

    def mean(mask):
        return float(cov[mask].mean()) if mask.any() else math.nan

    return (float(np.diag(cov).mean()), mean(~same_test & same_reader), mean(same_test & ~same_reader),
            mean(~same_test & ~same_reader))


def _t_interval(estimate: float, se: float, df: float, conf_level: float) -> tuple[float, float]:
    q = float(st.t.ppf((1 + conf_level) / 2, df)) if not math.isnan(df) else math.nan
    return estimate - q * se, estimate + q * se


def _z_interval(estimate: float, se: float, conf_level: float) -> tuple[float, float]:
    q = float(st.norm.ppf((1 + conf_level) / 2))
    return estimate - q * se, estimate + q * se


def _clip(low: float, high: float) -> tuple[float, float]:
    return min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0)


def _f_p(statistic: float, df1: float, df2: float) -> float:
    """1 − pf(F, df1, df2) as R computes it; infinite df2 is the chi-square limit, as in R."""
    if math.isinf(df2):
        return float(1 - st.chi2.cdf(statistic * df1, df1))
    return float(1 - st.f.cdf(statistic, df1, df2))


def _t_p(statistic: float, df: float) -> float:
    return float(2 * (1 - st.t.cdf(abs(statistic), df)))


def _z_p(statistic: float) -> float:
    return float(2 * (1 - st.norm.cdf(abs(statistic))))


def _test_means(values, cov, tests_of, readers_of, fixed, conf_level, names) -> list[TestMean]:
    t, r = values.shape
    out = []
    for i in range(t):
        own = tests_of == i
        sub = cov[np.ix_(own, own)]
        estimate = float(values[i].mean())
        ms_r = float(((values[i] - estimate) ** 2).sum() / (r - 1))
        var_error, _, cov2, _ = _components(sub, tests_of[own], readers_of[own])
        if fixed == "none":
            se = _sqrt(ms_r / r + max(cov2, 0.0))
            df = _ratio((ms_r + r * max(cov2, 0.0)) ** 2, ms_r ** 2 / (r - 1))
            low, high = _t_interval(estimate, se, df, conf_level)
        elif fixed == "readers":
            se = _sqrt((var_error + (r - 1) * max(cov2, 0.0)) / r)
            df = None
            low, high = _z_interval(estimate, se, conf_level)
        else:
            se = _sqrt(ms_r / r)
            df = float(r - 1)
            low, high = _t_interval(estimate, se, df, conf_level)
        out.append(TestMean(names[i], estimate, se, df, *_clip(low, high), ms_r, var_error, cov2))
    return out


def _reader_differences(values, cov, tests, readers, conf_level) -> list[ReaderDifference]:
    t, r = values.shape
    out = []
    for j, reader in enumerate(readers):
        for a, b in combinations(range(t), 2):
            ia, ib = a * r + j, b * r + j
            estimate = float(values[a, j] - values[b, j])
            se = _sqrt(cov[ia, ia] + cov[ib, ib] - 2 * cov[ia, ib])
            low, high = _z_interval(estimate, se, conf_level)
            out.append(ReaderDifference(reader, f"{tests[a]} - {tests[b]}", estimate, se, low, high,
                                        _z_p(_ratio(estimate, se))))
    return out


def or_analysis(study: ReaderStudy, *, metric: str = "auc", covariance: str = "jackknife", fixed: str = "none",
                conf_level: float = 0.95) -> MRMCResult:
    """Obuchowski–Rockette analysis of a checked study (:func:`.study.reader_study`)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if covariance not in COVARIANCE_METHODS:
        raise ValueError(f"unknown covariance method {covariance!r}; use one of {', '.join(COVARIANCE_METHODS)}")
    if fixed not in FIXED:
        raise ValueError(f"unknown fixed factor {fixed!r}; use one of {', '.join(FIXED)}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must lie in (0, 1), got {conf_level}")
    values = reader_metrics(study, metric)
    cov = metric_covariance(study, metric, covariance)
    t, r = values.shape
    tests_of = np.repeat(np.arange(t), r)
    readers_of = np.tile(np.arange(r), t)
    ms_t, ms_r, ms_tr = _mean_squares(values)
    error, cov1, cov2, cov3 = _components(cov, tests_of, readers_of)

    components = None
    if fixed != "cases":
        components = VarianceComponents(reader=(ms_r - ms_tr) / t - cov1 + cov3,
                                        test_reader=ms_tr - error + cov1 + (cov2 - cov3),
                                        error=error, cov1=cov1, cov2=cov2, cov3=cov3)
    if fixed == "none":
        denominator = ms_tr + r * max(cov2 - cov3, 0.0)
        df2 = _ratio(denominator ** 2, ms_tr ** 2 / ((t - 1) * (r - 1)))
        statistic = _ratio(ms_t, denominator)
        p = _f_p(statistic, t - 1, df2)
        test = GlobalTest("F", statistic, t - 1, df2, p, ms_t, ms_tr, denominator,
                          "F test with Hillis (2007) denominator degrees of freedom")
        diff_se, diff_df = _sqrt(2 / r * denominator), df2
    elif fixed == "readers":
        denominator = error - cov1 + (r - 1) * (cov2 - cov3)
        statistic = _ratio((t - 1) * ms_t, denominator)
        p = float(1 - st.chi2.cdf(statistic, t - 1))
        test = GlobalTest("X2", statistic, t - 1, None, p, ms_t, ms_tr, denominator, "chi-square test (fixed readers)")
        diff_se, diff_df = _sqrt(2 / r * denominator), None
    else:
        denominator = ms_tr
        df2 = float((t - 1) * (r - 1))
        statistic = _ratio(ms_t, ms_tr)
        p = _f_p(statistic, t - 1, df2)
        test = GlobalTest("F", statistic, t - 1, df2, p, ms_t, ms_tr, denominator,
                          "conventional ANOVA F test (fixed cases)")
        diff_se, diff_df = _sqrt(2 / r * ms_tr), df2

    means = _test_means(values, cov, tests_of, readers_of, fixed, conf_level, study.tests)
    differences = []
    for a, b in combinations(range(t), 2):
        estimate = means[a].estimate - means[b].estimate
        stat = _ratio(estimate, diff_se)
        if diff_df is None:
            low, high = _z_interval(estimate, diff_se, conf_level)
            p_diff = _z_p(stat)
        else:
            low, high = _t_interval(estimate, diff_se, diff_df, conf_level)
            p_diff = _t_p(stat, diff_df)
        differences.append(Difference(f"{study.tests[a]} - {study.tests[b]}", estimate, diff_se, diff_df,
                                      low, high, stat, p_diff))
    return MRMCResult(
        metric=metric, covariance_method=covariance, fixed=fixed, conf_level=conf_level,
        tests=study.tests, readers=study.readers, n_cases=len(study.cases), n_positive=study.n_positive,
        n_negative=study.n_negative, reader_values=tuple(tuple(float(x) for x in row) for row in values),
        covariance=tuple(tuple(float(x) for x in row) for row in cov), variance_components=components,
        global_test=test, differences=tuple(differences), test_means=tuple(means),
        reader_differences=tuple(_reader_differences(values, cov, study.tests, study.readers, conf_level)))
