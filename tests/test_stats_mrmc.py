"""Reader-study (MRMC) analysis against R's MRMCaov 0.3.0, DeLong, scikit-learn and simulation.

Reference values: tests/data/mrmc/vandyke.json (MRMCaov 0.3.0 in R 4.2.2 on the Van Dyke study;
see tests/data/PROVENANCE.md). Every value in it is matched to a relative 1e-9.
"""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from reportmine.stats import auc_delong, delong_test
from reportmine.stats.mrmc import (
    ReaderStudy,
    metric_covariance,
    mrmc,
    or_analysis,
    reader_metrics,
    reader_study,
)

DATA = Path(__file__).parent / "data" / "mrmc"
REFERENCE = json.loads((DATA / "vandyke.json").read_text())
METRIC = {"empirical_auc": "auc", "binary_sens": "sensitivity", "binary_spec": "specificity"}
REL = 1e-9


def _close(ours, theirs, what):
    assert theirs is not None and not (isinstance(theirs, str)), what
    assert ours == pytest.approx(theirs, rel=REL, abs=0), f"{what}: {ours!r} vs MRMCaov {theirs!r}"


def _reading(name):
    return pd.read_csv(DATA / name)


def _analysis(case):
    frame = _reading(case["file"])
    return mrmc(frame.test, frame.reader, frame.case, frame.truth, frame.rating, metric=METRIC[case["metric"]],
                covariance=case["cov"].lower(), fixed=case["fixed"], conf_level=REFERENCE["conf_level"])


def _label(case):
    return f"{case['metric']}-{case['cov']}-{case['fixed']}"


@pytest.mark.parametrize("case", REFERENCE["analyses"], ids=_label)
def test_every_mrmcaov_value(case):
    result = _analysis(case)
    summary = case["summary"]
    checked = 0

    values = case["reader_metrics"][case["metric"]]
    for value, test, reader in zip(values, case["reader_metrics"]["test"], case["reader_metrics"]["reader"]):
        i, j = result.tests.index(test), result.readers.index(reader)
        _close(result.reader_values[i][j], value, f"{test}/{reader} metric")
        checked += 1

    comps = summary["vcov_comps"]
    if case["fixed"] == "cases":
        assert comps is None and result.variance_components is None
    else:
        ours = result.variance_components
        names = ("reader", "test_reader", "error", "cov1", "cov2", "cov3")
        for name, value in zip(names, comps["Estimate"]):
            _close(getattr(ours, name), value, name)
        for name, value in zip(names[3:], comps["Correlation"][3:]):
            _close(ours.correlations()[name], value, f"{name} correlation")
        assert comps["Correlation"][:3] == ["NA"] * 3
        checked += 9

    equality, g = summary["test_equality"], result.global_test
    _close(g.ms_test, equality["MS(T)"], "MS(T)")
    if "MS(T:R)" in equality:
        _close(g.ms_test_reader, equality["MS(T:R)"], "MS(T:R)")
    for key, name in (("Cov1", "cov1"), ("Cov2", "cov2"), ("Cov3", "cov3")):
        if key in equality:
            _close(getattr(result.variance_components, name), equality[key], f"test_equality {key}")
    if "Denominator" in equality:
        _close(g.denominator, equality["Denominator"], "Denominator")
    if "F" in equality:
        assert g.name == "F"
        _close(g.statistic, equality["F"], "F")
        _close(g.df1, equality["df1"], "df1")
        _close(g.df2, equality["df2"], "df2")
    else:
        assert g.name == "X2" and g.df2 is None
        _close(g.statistic, equality["X2"], "X2")
        _close(g.df1, equality["df"], "df")
    _close(g.p_value, equality["p-value"], "global p")
    checked += len(equality)

    diffs = summary["test_diffs"]
    comparisons = diffs["Comparison"] if isinstance(diffs["Comparison"], list) else [diffs["Comparison"]]
    assert [d.comparison for d in result.differences] == comparisons
    for k, d in enumerate(result.differences):
        pick = (lambda v, k=k: v[k] if isinstance(v, list) else v)  # noqa: E731
        _close(d.estimate, pick(diffs["Estimate"]), "difference")
        _close(d.se, pick(diffs["StdErr"]), "difference SE")
        if "df" in diffs:
            _close(d.df, pick(diffs["df"]), "difference df")
        else:
            assert d.df is None
        _close(d.ci_low, diffs["CI"][k][0], "difference CI low")
        _close(d.ci_high, diffs["CI"][k][1], "difference CI high")
        _close(d.statistic, pick(diffs["t"] if "t" in diffs else diffs["z"]), "difference t/z")
        _close(d.p_value, pick(diffs["p-value"]), "difference p")
        checked += 8

    means = summary["test_means"]
    for i, m in enumerate(result.test_means):
        _close(m.estimate, means["Estimate"][i], "test mean")
        _close(m.se, means["StdErr"][i], "test mean SE")
        if "df" in means:
            _close(m.df, means["df"][i], "test mean df")
        else:
            assert m.df is None
        if "MS(R)" in means:
            _close(m.ms_reader, means["MS(R)"][i], "test MS(R)")
        if "Var(Error)" in means:
            _close(m.var_error, means["Var(Error)"][i], "test Var(Error)")
        if "Cov2" in means:
            _close(m.cov2, means["Cov2"][i], "test Cov2")
        _close(m.ci_low, means["CI"][i][0], "test mean CI low")
        _close(m.ci_high, means["CI"][i][1], "test mean CI high")
        checked += 6
    assert checked > 30


def test_reference_covers_every_option():
    seen = {(c["metric"], c["cov"], c["fixed"]) for c in REFERENCE["analyses"]}
    for cov, fixed in product(("jackknife", "DeLong", "unbiased"), ("none", "readers")):
        assert ("empirical_auc", cov, fixed) in seen
    assert ("empirical_auc", "jackknife", "cases") in seen
    for metric, fixed in product(("binary_sens", "binary_spec"), ("none", "readers", "cases")):
        assert (metric, "jackknife", fixed) in seen


def _study(frame, binary=False):
    return reader_study(frame.test, frame.reader, frame.case, frame.truth, frame.rating, binary_ratings=binary)


def test_delong_covariance_of_one_reader_equals_the_paired_delong_test():
    frame = _reading("vandyke.csv")
    study = _study(frame)
    cov = metric_covariance(study, "auc", "delong")
    r = len(study.readers)
    truth = study.truth
    for j in range(r):
        a, b = study.ratings[0, j], study.ratings[1, j]
        paired = delong_test(truth, a, b)
        assert cov[j, r + j] == pytest.approx(paired.covariance, rel=1e-12)
        assert cov[j, j] == pytest.approx(auc_delong(truth, a).variance, rel=1e-12)
        assert cov[r + j, r + j] == pytest.approx(auc_delong(truth, b).variance, rel=1e-12)
        values = reader_metrics(study, "auc")
        assert values[0, j] == pytest.approx(paired.auc_a, rel=1e-12)


def _random_study(rng, n_tests=3, n_readers=4, n_pos=9, n_neg=14, levels=None):
    truth = np.r_[np.ones(n_pos, np.int8), np.zeros(n_neg, np.int8)]
    raw = rng.normal(size=(n_tests, n_readers, n_pos + n_neg)) + truth
    ratings = np.digitize(raw, levels) + 1.0 if levels is not None else raw
    return ReaderStudy(tuple(f"T{i}" for i in range(n_tests)), tuple(f"R{j}" for j in range(n_readers)),
                       tuple(f"C{k}" for k in range(n_pos + n_neg)), truth, ratings)


@pytest.mark.parametrize("levels", [None, [-0.5, 0.3, 0.9, 1.5]], ids=["continuous", "five-point"])
def test_metrics_and_jackknife_equal_scikit_learn_recomputed_without_each_case(levels):
    rng = np.random.default_rng(7)
    study = _random_study(rng, levels=levels)
    t, r, c = study.ratings.shape
    values = reader_metrics(study, "auc")
    for i, j in product(range(t), range(r)):
        assert values[i, j] == pytest.approx(roc_auc_score(study.truth, study.ratings[i, j]), rel=1e-12)
    pseudo = np.array([[roc_auc_score(np.delete(study.truth, k), np.delete(study.ratings[i, j], k))
                        for i, j in product(range(t), range(r))] for k in range(c)])
    centred = pseudo - pseudo.mean(axis=0)
    expected = (c - 1) / c * centred.T @ centred
    np.testing.assert_allclose(metric_covariance(study, "auc", "jackknife"), expected, rtol=1e-10, atol=1e-15)


def test_unbiased_covariance_is_the_disjoint_pairs_u_statistic():
    rng = np.random.default_rng(3)
    study = _random_study(rng, n_tests=2, n_readers=2, n_pos=4, n_neg=5, levels=[0.0, 0.8])
    groups = study.ratings.reshape(4, -1)
    pos, neg = groups[:, study.truth == 1], groups[:, study.truth == 0]
    m, n = pos.shape[1], neg.shape[1]

    def psi(g, i, j):
        return 1.0 if pos[g, i] > neg[g, j] else 0.5 if pos[g, i] == neg[g, j] else 0.0

    auc = [np.mean([psi(g, i, j) for i in range(m) for j in range(n)]) for g in range(4)]
    expected = np.empty((4, 4))
    for a, b in product(range(4), range(4)):
        disjoint = [psi(a, i, j) * psi(b, k, l) for i in range(m) for k in range(m) if k != i
                    for j in range(n) for l in range(n) if l != j]  # noqa: E741
        expected[a, b] = auc[a] * auc[b] - np.mean(disjoint)
    np.testing.assert_allclose(metric_covariance(study, "auc", "unbiased"), expected, rtol=1e-10, atol=1e-15)


def test_three_tests_give_every_pair_in_sorted_order_and_order_of_rows_does_not_matter():
    rng = np.random.default_rng(11)
    study = _random_study(rng, n_tests=3, n_readers=5, levels=[0.0, 0.5, 1.0, 1.5])
    t, r, c = study.ratings.shape
    names = ["with model", "baseline", "CAD"]
    rows = [(names[i], f"reader {j}", f"case {k}", int(study.truth[k]), study.ratings[i, j, k])
            for i in range(t) for j in range(r) for k in range(c)]
    order = rng.permutation(len(rows))
    shuffled = [rows[k] for k in order]
    a = mrmc(*zip(*rows))
    b = mrmc(*zip(*shuffled))
    assert a.tests == ("CAD", "baseline", "with model")
    assert [d.comparison for d in a.differences] == ["CAD - baseline", "CAD - with model", "baseline - with model"]
    assert a.global_test.df1 == 2
    assert a.as_dict() == b.as_dict()
    means = {m.test: m.estimate for m in a.test_means}
    for d in a.differences:
        left, right = d.comparison.split(" - ")
        assert d.estimate == pytest.approx(means[left] - means[right], rel=1e-12)


def test_numeric_level_names_are_ordered_by_value_as_r_factor_does():
    rng = np.random.default_rng(5)
    study = _random_study(rng, n_tests=3, n_readers=2)
    t, r, c = study.ratings.shape
    tests = ["2", "10", "1"]
    rows = [(tests[i], str(j), str(k), int(study.truth[k]), study.ratings[i, j, k])
            for i in range(t) for j in range(r) for k in range(c)]
    result = mrmc(*zip(*rows))
    assert result.tests == ("1", "2", "10")


def test_truth_coded_one_two_or_in_words_gives_the_same_analysis():
    frame = _reading("vandyke.csv")
    plain = mrmc(frame.test, frame.reader, frame.case, frame.truth, frame.rating)
    for coded in (frame.truth + 1, frame.truth.map({1: "malignant", 0: "benign"})):
        again = mrmc(frame.test, frame.reader, frame.case, coded, frame.rating)
        assert again.as_dict() == plain.as_dict()


def test_fixed_readers_and_fixed_cases_agree_with_their_definitions_on_four_tests():
    rng = np.random.default_rng(13)
    study = _random_study(rng, n_tests=4, n_readers=3)
    random = or_analysis(study)
    readers = or_analysis(study, fixed="readers")
    cases = or_analysis(study, fixed="cases")
    values = np.array(random.reader_values)
    t, r = values.shape
    # fixed cases: the two-way ANOVA F of the reader values (readers × tests, no replication)
    grand = values.mean()
    ss_t = r * ((values.mean(axis=1) - grand) ** 2).sum()
    resid = values - values.mean(axis=1, keepdims=True) - values.mean(axis=0) + grand
    f = (ss_t / (t - 1)) / ((resid ** 2).sum() / ((t - 1) * (r - 1)))
    assert cases.global_test.statistic == pytest.approx(f, rel=1e-12)
    assert cases.global_test.df2 == (t - 1) * (r - 1)
    assert cases.variance_components is None
    # fixed readers: X² on t − 1 df, z-based differences without df
    assert readers.global_test.name == "X2" and readers.global_test.df1 == t - 1
    assert all(d.df is None for d in readers.differences) and len(readers.differences) == 6
    assert readers.variance_components == random.variance_components


def test_binary_reads_need_the_jackknife_and_sensitivity_uses_only_the_diseased():
    frame = _reading("vandyke_binary.csv")
    with pytest.raises(ValueError, match="AUC only"):
        mrmc(frame.test, frame.reader, frame.case, frame.truth, frame.rating, metric="sensitivity",
             covariance="delong")
    # a non-diseased case's read cannot move the sensitivity analysis
    flipped = frame.copy()
    negative = flipped.truth == 0
    flipped.loc[negative, "rating"] = 1 - flipped.loc[negative, "rating"]
    a = mrmc(frame.test, frame.reader, frame.case, frame.truth, frame.rating, metric="sensitivity")
    b = mrmc(flipped.test, flipped.reader, flipped.case, flipped.truth, flipped.rating, metric="sensitivity")
    assert a.as_dict() == b.as_dict()


def _rows():
    frame = _reading("vandyke.csv")
    return [list(row) for row in frame.itertuples(index=False)]


def _call(rows):
    return mrmc(*zip(*rows), rows=[str(k + 2) for k in range(len(rows))])


def _flip_truth(rows):
    rows[5][3] = 1 - rows[5][3]


def _duplicate(rows):
    rows.append(list(rows[0]))


def _drop(rows):
    rows.pop(3)


def _text_rating(rows):
    rows[7][4] = "high"


def _bad_truth(rows):
    rows[7][3] = "maybe"


def _empty_test(rows):
    rows[0][0] = ""


def _set_all(column, value):
    def change(rows):
        for row in rows:
            row[column] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_flip_truth, r"^row 7: case 'C\d+' has truth 1 here but 0 at row \d+"),
    (_duplicate, r"^row 1142: reader 'R1' reads case 'C1' in test 'T1' a second time \(first at row 2\)"),
    (_drop, r"^case 'C1' \(row 2\) has no reading by reader 'R2' in test 'T2'"),
    (_text_rating, r"^row 9: rating 'high' is not a finite number"),
    (_bad_truth, r"^row 9: truth 'maybe' is not 1/0"),
    (_empty_test, r"^row 2: empty test"),
    (_set_all(1, "R1"), r"only one reader"),
    (_set_all(0, "T1"), r"only one test"),
    (_set_all(3, 1), r"every case is diseased"),
], ids=lambda v: getattr(v, "__name__", None))
def test_each_design_violation_is_one_line_naming_the_row(change, message):
    rows = _rows()
    change(rows)
    with pytest.raises(ValueError, match=message) as info:
        _call(rows)
    assert "\n" not in str(info.value)


def test_roe_metz_null_rejects_at_about_five_percent():
    """Roe & Metz (1997) simulation with equal tests: the random-readers, random-cases F test
    rejects about 5 % of 400 studies (binomial SD 1.1 %; accepted 1.5–10 %)."""
    rng = np.random.default_rng(20231)
    n_tests, n_readers, n_pos, n_neg = 2, 4, 25, 25
    var = {"reader": 0.011, "test_reader": 0.011, "case": 0.1, "test_case": 0.1, "reader_case": 0.2, "error": 0.6}
    truth = np.r_[np.ones(n_pos, np.int8), np.zeros(n_neg, np.int8)]
    rejected = 0
    studies = 400
    for _ in range(studies):
        ratings = np.empty((n_tests, n_readers, n_pos + n_neg))
        for cls in (0, 1):
            idx = truth == cls
            k = int(idx.sum())

            def draw(name, shape):
                return rng.normal(0.0, math.sqrt(var[name]), shape)

            ratings[:, :, idx] = (1.0 * cls + draw("reader", n_readers)[None, :, None]
                                  + draw("test_reader", (n_tests, n_readers))[:, :, None]
                                  + draw("case", k)[None, None, :] + draw("test_case", (n_tests, k))[:, None, :]
                                  + draw("reader_case", (n_readers, k))[None, :, :]
                                  + draw("error", (n_tests, n_readers, k)))
        study = ReaderStudy(("A", "B"), tuple(f"R{j}" for j in range(n_readers)),
                            tuple(f"C{k}" for k in range(n_pos + n_neg)), truth, ratings)
        rejected += or_analysis(study).global_test.p_value < 0.05
    assert 0.015 <= rejected / studies <= 0.10


def test_readers_with_parallel_performance_give_the_chi_square_limit_of_hillis_f():
    """Reader 2 rates every case like reader 1 plus a constant: the reader × test interaction
    vanishes, so ddf grows without bound (x/0 = ∞ in R's arithmetic) and p tends to the
    chi-square limit of the F test, also when ddf is exactly infinite."""
    from scipy.stats import chi2

    from reportmine.stats.mrmc.analysis import _f_p

    rng = np.random.default_rng(2)
    study = _random_study(rng, n_tests=2, n_readers=2, n_pos=8, n_neg=9)
    ratings = study.ratings.copy()
    ratings[:, 1] = ratings[:, 0] + 3.0
    result = or_analysis(ReaderStudy(study.tests, study.readers, study.cases, study.truth, ratings))
    g = result.global_test
    assert g.ms_test_reader < 1e-25 and g.df2 > 1e20 and g.denominator > 0
    assert g.p_value == pytest.approx(1 - chi2.cdf(g.statistic, 1), rel=1e-9)
    assert _f_p(g.statistic, 1, math.inf) == pytest.approx(1 - chi2.cdf(g.statistic, 1), rel=1e-15)
    assert _f_p(2.5, 3, math.inf) == pytest.approx(1 - chi2.cdf(7.5, 3), rel=1e-15)
