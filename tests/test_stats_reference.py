"""Every case of the R reference file (epiR 2.0.57, pROC 1.18.0), to rel 1e-9."""

import json
import math
from pathlib import Path

import pytest

from reportmine.stats import (
    auc_delong,
    delong_test,
    diagnostic_metrics,
    mcnemar,
    proportion_ci,
    reconstruct,
    youden,
)

REF = json.loads((Path(__file__).parent / "data" / "diagnostic_reference_dev.json").read_text())


def same(got, ref, rel=1e-9, abs_=1e-12):
    ref = float(ref)
    if math.isnan(ref):
        return math.isnan(got)
    if math.isinf(ref):
        return got == ref
    return math.isclose(got, ref, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize("case", REF["binary_cases"], ids=lambda c: c["id"])
def test_proportions_and_both_cis(case):
    t = case["table"]
    m = diagnostic_metrics(t["TP"], t["FP"], t["FN"], t["TN"])
    for name, ref in case["proportions"].items():
        assert same(getattr(m, name).estimate, ref["estimate"]), name
        for method, key in (("clopper-pearson", "clopper_pearson"), ("wilson", "wilson")):
            p = proportion_ci(ref["x"], ref["n"], method)
            assert same(p.ci_low, ref["ci"][key]["lower"]), (name, method, "lower")
            assert same(p.ci_high, ref["ci"][key]["upper"]), (name, method, "upper")
    # MedCalc defaults: Clopper-Pearson for Sen, Spe, Acc
    for name in ("sensitivity", "specificity", "accuracy"):
        ref = case["proportions"][name]["ci"]["clopper_pearson"]
        assert same(getattr(m, name).ci_low, ref["lower"]) and same(getattr(m, name).ci_high, ref["upper"])


@pytest.mark.parametrize("case", REF["binary_cases"], ids=lambda c: c["id"])
def test_likelihood_ratios(case):
    t = case["table"]
    m = diagnostic_metrics(t["TP"], t["FP"], t["FN"], t["TN"])
    for name, ref in case["likelihood_ratios"].items():
        got = getattr(m, name)
        # epiR's zero-cell results (Inf / NaN / 0) are our documented rule too, so every case is checked
        assert same(got.estimate, ref["estimate"]), name
        assert same(got.ci_low, ref["lower"]), name
        assert same(got.ci_high, ref["upper"]), name


@pytest.mark.parametrize("case", REF["mcnemar_cases"], ids=lambda c: c["id"])
def test_mcnemar(case):
    t = case["paired_table"]
    r = mcnemar(t["test1_pos_test2_neg"], t["test1_neg_test2_pos"], a=t["both_positive"], d=t["both_negative"])
    assert same(r.chi2.statistic, case["mcnemar_uncorrected"]["statistic"])
    assert same(r.chi2.p_value, case["mcnemar_uncorrected"]["p_value"])
    assert same(r.exact.p_value, case["exact_binomial"]["p_value"])
    # Our clamped continuity correction equals R's result, including R's b = c special case.
    assert same(r.chi2_corrected.statistic, case["mcnemar_corrected"]["statistic"])
    assert same(r.chi2_corrected.p_value, case["mcnemar_corrected"]["p_value"])


def _markers(case):
    return {m["name"]: m for m in case["markers"]}


@pytest.mark.parametrize("case", REF["roc_cases"], ids=lambda c: c["id"])
def test_auc_delong_and_youden(case):
    labels = case["labels"]
    for marker in case["markers"]:
        r = auc_delong(labels, marker["scores"])
        assert same(r.auc, marker["auc"]["value"])
        assert same(r.variance, marker["auc_variance_delong"]["value"])
        ci = marker["auc_ci_delong"]
        assert same(r.ci_low, ci["lower"]) and same(r.ci_high, ci["upper"])
        assert same(r.ci_low_unclipped, ci["unclipped_lower"]) and same(r.ci_high_unclipped, ci["unclipped_upper"])
        y = marker["youden"]
        cut = youden(labels, marker["scores"])
        ref_j = y["optimal"][0]["youden_j"]
        assert same(cut.youden_j, ref_j)
        exact = [float(t) for t in y["exact_arithmetic_optimal_thresholds"]]
        assert cut.threshold in exact
        assert set(cut.all_optimal) == set(exact)
        best = next(o for o in y["optimal"])
        assert same(cut.sensitivity + cut.specificity, best["sensitivity"] + best["specificity"])


@pytest.mark.parametrize("case", [c for c in REF["roc_cases"] if "paired_delong_test" in c], ids=lambda c: c["id"])
def test_paired_delong(case):
    m = _markers(case)
    ref = case["paired_delong_test"]
    t = delong_test(case["labels"], m["A"]["scores"], m["B"]["scores"])
    assert same(t.z, ref["statistic_z"])
    assert same(t.p_value, ref["p_value"])
    assert same(t.auc_a, ref["auc_A"]) and same(t.auc_b, ref["auc_B"])
    assert same(t.ci_low, ref["difference_ci_lower"]) and same(t.ci_high, ref["difference_ci_upper"])
    assert same(t.covariance, ref["covariance_delong"])


def test_paper_reconstruction_matches_reference():
    case = next(c for c in REF["binary_cases"] if "paper_reconstruction" in c)
    rec = case["paper_reconstruction"]
    r = reconstruct("95.14", "34.3", "64.66", "59.02", "87.71", n_pos=1524, n_neg=1535)
    assert not r.exactly_consistent and rec["exactly_consistent"] is False
    best = r.best_fits[0]
    t = case["table"]
    assert (best.tp, best.fp, best.fn, best.tn) == (t["TP"], t["FP"], t["FN"], t["TN"])
    assert best.mismatched == ("specificity",)
