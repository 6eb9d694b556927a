"""Cross-checks against scikit-learn and statsmodels, properties, and documented conventions."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import class_likelihood_ratios, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from reportmine.stats import (
    apply_threshold,
    auc_bootstrap,
    auc_delong,
    compare_paired,
    diagnostic_metrics,
    dice,
    jaccard,
    mcnemar,
    proportion_ci,
    reconstruct,
    roc_curve,
    sensitivity_at_specificity,
    summarize_overlap,
    transfer_threshold,
    two_by_two,
    youden,
)

counts = st.integers(min_value=0, max_value=400)


@pytest.mark.parametrize("method,sm_method", [("clopper-pearson", "beta"), ("wilson", "wilson"),
                                              ("jeffreys", "jeffreys"), ("agresti-coull", "agresti_coull")])
@pytest.mark.parametrize("x,n", [(0, 10), (1, 10), (7, 23), (50, 50), (513, 1535), (3, 4)])
def test_proportion_cis_match_statsmodels(method, sm_method, x, n):
    ours = proportion_ci(x, n, method)
    low, high = proportion_confint(x, n, alpha=0.05, method=sm_method)
    if method == "jeffreys" and x in (0, n):
        # Brown, Cai & DasGupta (2001): the Jeffreys bound is 0 at x = 0 and 1 at x = n;
        # statsmodels leaves the plain Beta quantile there. The other bound agrees.
        low, high = (0.0, high) if x == 0 else (low, 1.0)
    assert math.isclose(ours.ci_low, low, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(ours.ci_high, high, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' scale of a one-row GLM
@pytest.mark.parametrize("x,n", [(1, 10), (7, 23), (1450, 2457), (528, 602), (99, 100)])
def test_logit_interval_is_the_wald_interval_of_a_binomial_glm(x, n):
    """The standard logit interval = expit of the Wald CI of an intercept-only logistic model."""
    fit = sm.GLM(np.array([[x, n - x]]), np.ones((1, 1)), family=sm.families.Binomial()).fit(tol=1e-14)
    low, high = fit.conf_int(alpha=0.05)[0]
    ours = proportion_ci(x, n, "logit")
    assert math.isclose(ours.ci_low, 1 / (1 + math.exp(-low)), rel_tol=1e-9)
    assert math.isclose(ours.ci_high, 1 / (1 + math.exp(-high)), rel_tol=1e-9)


def test_logit_worked_example_and_fallback():
    """Mercaldo et al. (2007) standard logit interval, by hand: PPV = 45/50.

    logit(0.9) = ln 9 = 2.1972; SE = sqrt(1/45 + 1/5) = 0.4714; 2.1972 ± 1.95996·0.4714
    = (1.2733, 3.1212) → expit = (0.7813, 0.9578).
    """
    p = diagnostic_metrics(45, 5, 10, 40).ppv
    assert p.method == "logit (Mercaldo 2007)"
    assert round(p.ci_low, 4) == 0.7813 and round(p.ci_high, 4) == 0.9578
    # symmetric in logit space around the estimate
    lg = lambda v: math.log(v / (1 - v))  # noqa: E731
    assert math.isclose(lg(p.estimate) - lg(p.ci_low), lg(p.ci_high) - lg(p.estimate), rel_tol=1e-12)
    # 100 % falls back to Clopper-Pearson, and says so
    full = diagnostic_metrics(20, 0, 3, 30).ppv
    assert full.estimate == 1.0 and full.ci_high == 1.0 and "clopper-pearson" in full.method
    assert math.isclose(full.ci_low, proportion_ci(20, 20).ci_low)


def test_prevalence_adjusted_predictive_values():
    m = diagnostic_metrics(90, 20, 10, 80, prevalence=0.1)
    se, sp = 0.9, 0.8
    assert math.isclose(m.ppv.estimate, se * 0.1 / (se * 0.1 + (1 - sp) * 0.9))
    assert math.isclose(m.npv.estimate, sp * 0.9 / (sp * 0.9 + (1 - se) * 0.1))
    assert m.ppv.ci_low < m.ppv.estimate < m.ppv.ci_high and "prevalence 0.1" in m.ppv.method
    # higher prevalence → higher PPV, lower NPV
    high = diagnostic_metrics(90, 20, 10, 80, prevalence=0.5)
    assert high.ppv.estimate > m.ppv.estimate and high.npv.estimate < m.npv.estimate


def test_likelihood_ratios_match_sklearn():
    y_true = np.array([1] * 40 + [0] * 60)
    y_pred = np.array([1] * 30 + [0] * 10 + [1] * 15 + [0] * 45)
    pos, neg = class_likelihood_ratios(y_true, y_pred)[:2]
    m = diagnostic_metrics(two_by_two(y_true, y_pred))
    assert math.isclose(m.lr_positive.estimate, pos) and math.isclose(m.lr_negative.estimate, neg)


def test_zero_cell_rule_and_correction():
    m = diagnostic_metrics(10, 0, 5, 20)
    assert m.lr_positive.estimate == math.inf and math.isnan(m.lr_positive.ci_low)
    c = diagnostic_metrics(10, 0, 5, 20, lr_correction=True)
    assert math.isfinite(c.lr_positive.estimate) and "+0.5" in c.lr_positive.method
    assert math.isclose(c.lr_positive.estimate, (10.5 / 16) / (0.5 / 21))


@pytest.mark.parametrize("b,c", [(0, 5), (3, 3), (12, 4), (40, 25), (1, 0)])
def test_mcnemar_matches_statsmodels(b, c):
    table = [[7, b], [c, 9]]
    r = mcnemar(b, c)
    exact = sm_mcnemar(table, exact=True)
    plain = sm_mcnemar(table, exact=False, correction=False)
    assert math.isclose(r.exact.p_value, exact.pvalue, rel_tol=1e-9)
    assert math.isclose(r.chi2.statistic, plain.statistic, rel_tol=1e-12)
    corrected = sm_mcnemar(table, exact=False, correction=True)
    if b != c:  # statsmodels does not clamp the correction; we do (see the module docstring)
        assert math.isclose(r.chi2_corrected.statistic, corrected.statistic, rel_tol=1e-12)
    else:
        assert r.chi2_corrected.statistic == 0 and r.chi2_corrected.p_value == 1


def test_mcnemar_reporting_rule_and_no_discordant_pairs():
    assert mcnemar(3, 9).reported == "exact"
    assert mcnemar(30, 10).reported == "chi2_corrected"
    r = mcnemar(0, 0)
    assert r.exact.p_value == 1 and math.isnan(r.chi2.statistic)
    with pytest.raises(ValueError):
        mcnemar(-1, 3)


def test_paired_sensitivity_and_specificity_comparison():
    gold = [1] * 6 + [0] * 6
    t1 = [1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    t2 = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    r = compare_paired(gold, t1, t2)
    assert (r.sensitivity.b, r.sensitivity.c) == (2, 0)  # diseased: t1+ t2− twice
    # non-diseased: "correct negative" by t1 but not t2 once; by t2 but not t1 twice
    assert (r.specificity.b, r.specificity.c) == (1, 2)
    assert math.isclose(r.sensitivity_1, 5 / 6) and math.isclose(r.specificity_2, 5 / 6)


def test_two_by_two_indeterminate_handling():
    gold = ["malignant", "malignant", "benign", "benign", "malignant"]
    test = ["malignant", "indeterminate", "indeterminate", "benign", "benign"]
    excl = two_by_two(gold, test, indeterminate="exclude")
    assert (excl.tp, excl.fp, excl.fn, excl.tn) == (1, 0, 1, 1)
    assert excl.indeterminate.count == 2 and excl.indeterminate.positions == (1, 2)
    assert excl.indeterminate.diseased == 1
    pos = two_by_two(gold, test, indeterminate="positive")
    assert (pos.tp, pos.fp, pos.fn, pos.tn) == (2, 1, 1, 1)
    neg = two_by_two(gold, test, indeterminate="negative")
    assert (neg.tp, neg.fp, neg.fn, neg.tn) == (1, 0, 2, 2)
    assert "indeterminate" in diagnostic_metrics(excl).summary()
    with pytest.raises(ValueError, match="position 1"):
        two_by_two([1, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="length"):
        two_by_two([1, 0], [1])
    with pytest.raises(ValueError, match="unrecognised"):
        two_by_two([1, 2], [1, 0])


@settings(max_examples=200, deadline=None)
@given(tp=counts, fp=counts, fn=counts, tn=counts,
       method=st.sampled_from(["clopper-pearson", "wilson", "jeffreys", "agresti-coull", "logit"]))
def test_property_cis_contain_estimate_within_unit_interval(tp, fp, fn, tn, method):
    m = diagnostic_metrics(tp, fp, fn, tn, ci_method=method)
    for name in m.PROPORTIONS:
        p = getattr(m, name)
        if math.isnan(p.estimate):
            assert p.n == 0
            continue
        assert 0.0 <= p.ci_low <= p.estimate + 1e-12 and p.estimate - 1e-12 <= p.ci_high <= 1.0


@settings(max_examples=100, deadline=None)
@given(tp=counts, fp=counts, fn=counts, tn=counts)
def test_property_swapping_labels_swaps_sen_and_spe(tp, fp, fn, tn):
    m = diagnostic_metrics(tp, fp, fn, tn)
    swapped = diagnostic_metrics(tn, fn, fp, tp)  # relabel: disease ↔ no disease, test ↔ its negation
    for a, b in ((m.sensitivity, swapped.specificity), (m.specificity, swapped.sensitivity)):
        assert (math.isnan(a.estimate) and math.isnan(b.estimate)) or (
            a.estimate == b.estimate and a.ci_low == b.ci_low and a.ci_high == b.ci_high)


score_lists = st.lists(st.integers(min_value=0, max_value=20), min_size=4, max_size=80)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_auc_and_delong(data):
    n = data.draw(st.integers(min_value=4, max_value=80))
    labels = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    scores = np.array(data.draw(st.lists(st.integers(0, 15), min_size=n, max_size=n)), dtype=float)
    r = auc_delong(labels, scores)
    assert math.isclose(r.auc, roc_auc_score(labels, scores), rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(auc_delong(labels, -scores).auc, 1 - r.auc, abs_tol=1e-12)
    assert r.variance >= 0 or math.isnan(r.variance)
    assert 0 <= r.ci_low <= r.auc <= r.ci_high <= 1 or math.isnan(r.variance)


def test_auc_matches_sklearn_with_ties_large():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 5000)
    s = np.round(rng.normal(y * 0.7, 1.0), 1)
    assert math.isclose(auc_delong(y, s).auc, roc_auc_score(y, s), rel_tol=1e-12)


def test_perfect_separation_and_single_class():
    r = auc_delong([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert r.auc == 1 and r.variance == 0 and (r.ci_low, r.ci_high) == (1, 1)
    with pytest.raises(ValueError, match="single class"):
        auc_delong([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        auc_delong([0, 1], [0.1, float("nan")])


def test_bootstrap_is_seeded_and_close_to_delong():
    rng = np.random.default_rng(7)
    y = np.array([0] * 150 + [1] * 100)
    s = rng.normal(y * 1.0, 1.0)
    a = auc_bootstrap(y, s, n_boot=1000, seed=3)
    b = auc_bootstrap(y, s, n_boot=1000, seed=3, chunk=37)  # chunking does not change the result
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    d = auc_delong(y, s)
    assert abs(a.ci_low - d.ci_low) < 0.02 and abs(a.ci_high - d.ci_high) < 0.02
    # each replicate is a genuine AUC: check one against sklearn with the same resampling
    rng2 = np.random.default_rng(3)
    pos, neg = s[y == 1], s[y == 0]
    u = rng2.random((1, 250))
    p = pos[(u[0, :100] * 100).astype(int)]
    q = neg[(u[0, 100:] * 150).astype(int)]
    single = auc_bootstrap(y, s, n_boot=1, seed=3)
    expected = roc_auc_score(np.r_[np.ones(100), np.zeros(150)], np.r_[p, q])
    assert math.isclose(single.ci_low, expected, rel_tol=1e-12)


def test_curve_youden_and_fixed_specificity():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.3, 0.35, 0.6, 0.4, 0.7, 0.8, 0.9]
    curve = roc_curve(y, s)
    assert curve.thresholds[0] == -np.inf and curve.thresholds[-1] == np.inf
    cut = youden(y, s)
    tp, fp, fn, tn = apply_threshold(cut.threshold, y, s)
    assert math.isclose(tp / 4, cut.sensitivity) and math.isclose(tn / 4, cut.specificity)
    assert cut.threshold_as_observed_score == min(v for v in s if v > cut.threshold)
    at = sensitivity_at_specificity(y, s, 1.0)
    assert at.specificity == 1.0 and at.sensitivity == 0.75


def test_threshold_transfer_reports_both_sets():
    rng = np.random.default_rng(0)
    dev_y = rng.integers(0, 2, 300)
    dev_s = rng.normal(dev_y, 1)
    test_y = rng.integers(0, 2, 200)
    test_s = rng.normal(test_y, 1)
    t = transfer_threshold(dev_y, dev_s, test_y, test_s)
    assert t.cutoff.threshold == youden(dev_y, dev_s).threshold
    assert (t.tp, t.fp, t.fn, t.tn) == apply_threshold(t.cutoff.threshold, test_y, test_s)
    assert "out-of-fold" in t.summary() and "test set" in t.summary()


def test_dice_jaccard_and_empty_policies():
    a = np.zeros((4, 4), int)
    b = np.zeros((4, 4), int)
    a[:2, :2] = 1
    b[:2, :3] = 255  # any non-zero pixel is foreground
    assert dice(a, b) == 2 * 4 / (4 + 6) and jaccard(a, b) == 4 / 6
    empty = np.zeros((4, 4))
    assert dice(empty, empty, "one") == 1.0 and dice(empty, empty, "zero") == 0.0
    assert math.isnan(dice(empty, empty, "nan"))
    assert dice(a, empty) == 0.0
    with pytest.raises(ValueError):
        dice(a, np.zeros((3, 3)))


def test_overlap_summary_quartiles_and_nan_policy():
    values = [0.9, 0.8, 0.5, float("nan"), 0.7, 0.95, 0.3]
    s = summarize_overlap(values, empty_policy="nan", n_boot=500, seed=1)
    kept = [v for v in values if not math.isnan(v)]
    assert s.n == 6 and s.n_excluded == 1
    assert math.isclose(s.median, float(np.median(kept)))
    assert math.isclose(s.q1, float(np.percentile(kept, 25))) and math.isclose(s.q3, float(np.percentile(kept, 75)))
    assert s.q1 <= s.median <= s.q3 and s.median_ci_low <= s.median <= s.median_ci_high
    assert "linear" in s.summary() and "nan" in s.summary()


def test_reconstruct_paper_rows():
    seg_cls = reconstruct("57.25", "87.08", "72.03", "81.87", "66.67", n=547)
    assert seg_cls.group_sizes == ((276, 271),)
    assert reconstruct("57.25", "87.08", "72.03", "81.87", "66.67", n_pos=240, n_neg=307).exactly_consistent is False
    cls_only = reconstruct("84.78", "80.23", "82.45", "79.35", "85.61", n=547)
    assert cls_only.exactly_consistent is False
    # a table we make ourselves is always recovered
    made = reconstruct(sensitivity=f"{100 * 30 / 40:.2f}", specificity=f"{100 * 50 / 60:.2f}", n_pos=40, n_neg=60)
    assert any((f.tp, f.tn) == (30, 50) for f in made.consistent)
