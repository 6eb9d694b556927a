"""Clustered (patient-level) statistics against outside authorities.

* Ratio estimators and Durkalski's McNemar: every value of the R reference cases
  (survey::svyratio, tests/data/clustered_dev) to a relative 1e-9.
* Obuchowski's clustered AUC with singleton clusters: pROC's DeLong values
  (tests/data/diagnostic_reference_dev.json) to a relative 1e-9.
* Obuchowski's (1998) test: statsmodels' cluster-robust OLS standard error of the mean difference.
* Clustered AUC and sensitivity variances on large clusters: the patient bootstrap (20,000
  resamples), within Monte Carlo error.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from reportmine.stats import (
    auc_clustered,
    auc_delong,
    auc_difference_clustered,
    cluster_bootstrap,
    clustered_mcnemar,
    clustered_metrics,
    clustered_proportion,
    compare_paired_clustered,
    correlated_proportions_test,
    weighted_auc,
    weighted_median,
    weighted_ratio,
)
from reportmine.stats.cluster_bootstrap import cluster_weights

DATA = Path(__file__).parent / "data"
CLUSTERED = DATA / "clustered_dev"
CASES = ("dev_small", "dev_singletons", "dev_large_clusters")
MEASURES = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
FIELDS = ("estimate", "se", "ci_low", "ci_high", "denominator", "naive_se", "design_effect")
ROC = json.loads((DATA / "diagnostic_reference_dev.json").read_text())["roc_cases"]


def load(case):
    return pd.read_csv(CLUSTERED / f"{case}.csv"), json.loads((CLUSTERED / f"{case}.json").read_text())


def close(got, ref, rel=1e-9):
    return math.isclose(float(got), float(ref), rel_tol=rel, abs_tol=1e-15)


@pytest.mark.parametrize("test", ("test1", "test2"))
@pytest.mark.parametrize("case", CASES)
def test_ratio_estimators_match_survey_svyratio(case, test):
    frame, ref = load(case)
    m = clustered_metrics(frame["label"], frame[test], frame["patient"])
    assert m.n_clusters == ref["n_patients"] and m.n_units == ref["n_nodes"]
    checked = 0
    for measure in MEASURES:
        got = getattr(m, measure).as_dict()
        for key in FIELDS:
            assert close(got[key], ref[test][measure][key]), (measure, key, got[key], ref[test][measure][key])
            checked += 1
        assert got["method"].startswith("ratio estimator") and not got["fallback"]
    assert checked == 35


@pytest.mark.parametrize("case", CASES)
def test_durkalski_mcnemar_matches_r(case):
    frame, ref = load(case)
    r = clustered_mcnemar(frame["test1"], frame["test2"], frame["patient"])
    want = ref["mcnemar_clustered"]
    assert close(r.statistic, want["statistic"]) and close(r.p_value, want["p_value"])
    assert (r.b, r.c) == (want["b"], want["c"])
    assert "Durkalski" in r.method and "Durkalski 2003" in want["method"]


def test_singletons_se_is_binomial_times_sqrt_n_over_n_minus_1():
    frame, _ = load("dev_singletons")
    n = len(frame)
    m = clustered_metrics(frame["label"], frame["test1"], frame["patient"])
    for measure in MEASURES:
        p = getattr(m, measure)
        binomial = math.sqrt(p.estimate * (1 - p.estimate) / p.n)
        assert close(p.se, binomial * math.sqrt(n / (n - 1)))
        assert close(p.design_effect, n / (n - 1))


def test_extreme_proportion_falls_back_to_clopper_pearson_flagged():
    gold = [1, 1, 1, 1, 0, 0, 0, 1]
    test = [1, 1, 1, 1, 0, 1, 0, 1]  # every diseased node found: Sen = 100 %
    patients = ["a", "a", "b", "c", "c", "d", "d", "e"]
    m = clustered_metrics(gold, test, patients)
    sen = m.sensitivity
    assert sen.estimate == 1.0 and sen.fallback and "clopper-pearson" in sen.method
    exact = sps.binomtest(5, 5).proportion_ci(0.95, method="exact")
    assert close(sen.ci_low, exact.low) and sen.ci_high == 1.0
    assert not m.specificity.fallback


def test_proportion_inputs_checked():
    with pytest.raises(ValueError, match="outside the denominator"):
        clustered_proportion([1, 0], ["a", "b"], in_denominator=[0, 1])
    with pytest.raises(ValueError, match="missing cluster id at position 1"):
        clustered_proportion([1, 0], ["a", None])
    zero = clustered_proportion([0, 0], ["a", "b"], in_denominator=[0, 0])
    assert math.isnan(zero.estimate) and "zero denominator" in zero.method


def test_indeterminate_calls_excluded_but_their_patients_count():
    gold = [1, 1, 0, 0, 1, 0]
    test = ["malignant", "indeterminate", "benign", "malignant", "benign", "benign"]
    patients = ["p1", "p1", "p2", "p3", "p4", "p4"]
    m = clustered_metrics(gold, test, patients, indeterminate="exclude")
    assert m.sensitivity.n == 2 and m.n_clusters == 4 and m.notes
    assert clustered_metrics(gold, test, patients, indeterminate="positive").sensitivity.x == 2


@pytest.mark.parametrize("case", CASES)
def test_obuchowski_difference_matches_statsmodels_cluster_robust_ols(case):
    import statsmodels.api as sm

    frame, _ = load(case)
    r = compare_paired_clustered(frame["label"], frame["test1"], frame["test2"], frame["patient"])
    k = frame["patient"].nunique()
    diff = (frame["test1"] - frame["test2"]).to_numpy(float)
    sick = (frame["label"] == 1).to_numpy()
    well = ~sick
    for domain, result in ((np.ones(len(frame), bool), r.overall), (sick, r.sensitivity), (well, r.specificity)):
        y = diff[domain] if result is not r.specificity else -diff[domain]  # Spe: correct negatives
        groups = pd.factorize(frame["patient"][domain])[0]
        ols = sm.OLS(y, np.ones(domain.sum())).fit(cov_type="cluster", cov_kwds={"groups": groups})
        g = len(set(groups))
        # statsmodels counts the clusters in the domain (G), we every patient in the data (K)
        se = float(ols.bse[0]) * math.sqrt((k / (k - 1)) / (g / (g - 1)))
        assert close(result.obuchowski.difference, float(ols.params[0]))
        assert close(result.obuchowski.se, se)
        assert close(result.obuchowski.p_value, 2 * sps.norm.sf(abs(float(ols.params[0])) / se))


@pytest.mark.parametrize("case", CASES)
def test_obuchowski_variances_are_the_svyratio_variances(case):
    """Var(p1 − p2) = Var(p1) + Var(p2) − 2 Cov: the two variances are R's."""
    frame, ref = load(case)
    sick = frame["label"] == 1
    t = correlated_proportions_test(frame["test1"] * sick, frame["test2"] * sick, frame["patient"],
                                    in_denominator=sick)
    r1, r2 = ref["test1"]["sensitivity"], ref["test2"]["sensitivity"]
    assert close(t.p1, r1["estimate"]) and close(t.p2, r2["estimate"])
    # Var(D) ≤ (SE1 + SE2)² by Cauchy–Schwarz, and ≥ (SE1 − SE2)²
    assert (r1["se"] - r2["se"]) ** 2 - 1e-15 <= t.se ** 2 <= (r1["se"] + r2["se"]) ** 2 + 1e-15


def test_durkalski_undefined_without_discordance():
    r = clustered_mcnemar([1, 0, 1], [1, 0, 1], ["a", "a", "b"])
    assert math.isnan(r.statistic) and r.p_value == 1.0 and r.b == r.c == 0


def roc_markers():
    return [pytest.param(case, marker, id=f"{case['id']}-{marker['name']}")
            for case in ROC for marker in case["markers"]]


@pytest.mark.parametrize(("case", "marker"), roc_markers())
def test_clustered_auc_with_singletons_equals_proc_delong(case, marker):
    y = case["labels"]
    a = auc_clustered(y, marker["scores"], list(range(len(y))))
    assert close(a.auc, marker["auc"]["value"])
    assert close(a.variance, marker["auc_variance_delong"]["value"])
    assert close(a.ci_low, marker["auc_ci_delong"]["lower"]) and close(a.ci_high, marker["auc_ci_delong"]["upper"])
    assert close(a.design_effect, 1.0) and a.n_clusters == len(y)


@pytest.mark.parametrize("case", [c for c in ROC if "paired_delong_test" in c], ids=lambda c: c["id"])
def test_clustered_auc_difference_with_singletons_equals_proc_paired_delong(case):
    ref = case["paired_delong_test"]
    a, b = case["markers"]
    r = auc_difference_clustered(case["labels"], a["scores"], b["scores"], [f"id{i}" for i in range(case["n"])])
    assert close(r.z, ref["statistic_z"]) and close(r.p_value, ref["p_value"])
    assert close(r.ci_low, ref["difference_ci_lower"]) and close(r.ci_high, ref["difference_ci_upper"])
    assert close(r.covariance, ref["covariance_delong"])
    assert close(r.auc_a, ref["auc_A"]) and close(r.auc_b, ref["auc_B"])


def _mc_check(analytic_variance, replicates, k):
    """Analytic variance vs the bootstrap's, within 3 Monte Carlo standard errors.

    The bootstrap variance is the plug-in (1/K² Σ) one; the analytic variance carries the
    small-sample factor K/(K − 1), so the bootstrap's is scaled by it before comparing.
    """
    centred = (replicates - replicates.mean()) ** 2
    boot = centred.sum() / (len(replicates) - 1) * k / (k - 1)
    mc_se = centred.std(ddof=1) / math.sqrt(len(replicates)) * k / (k - 1)
    return abs(analytic_variance - boot) / mc_se, boot


def test_clustered_auc_variance_agrees_with_patient_bootstrap_on_large_clusters():
    frame, _ = load("dev_large_clusters")
    analytic = auc_clustered(frame["label"], frame["score"], frame["patient"])
    naive = auc_delong(frame["label"], frame["score"])
    boot = cluster_bootstrap(weighted_auc(frame["label"], frame["score"]), frame["patient"], n_boot=20_000,
                             seed=20260, keep_replicates=True)
    assert close(boot.estimate, analytic.auc)
    z, boot_var = _mc_check(analytic.variance, boot.replicates, analytic.n_clusters)
    assert z < 3, (analytic.variance, boot_var)
    # and the clustering matters here: DeLong's independent-unit variance is far off
    z_naive, _ = _mc_check(naive.variance, boot.replicates, analytic.n_clusters)
    assert z_naive > 10 and analytic.design_effect > 1.1


def test_clustered_sensitivity_variance_agrees_with_patient_bootstrap():
    frame, _ = load("dev_large_clusters")
    sick = frame["label"] == 1
    sen = clustered_metrics(frame["label"], frame["test2"], frame["patient"]).sensitivity
    boot = cluster_bootstrap(weighted_ratio(sick & (frame["test2"] == 1), sick), frame["patient"],
                             n_boot=20_000, seed=11, keep_replicates=True)
    z, _ = _mc_check(sen.se ** 2, boot.replicates, sen.n_clusters)
    assert z < 3
    assert abs(boot.ci_low - sen.ci_low) < 0.03 and abs(boot.ci_high - sen.ci_high) < 0.03


@pytest.mark.parametrize(("case", "marker"), roc_markers())
def test_weighted_auc_with_unit_weights_is_proc_auc(case, marker):
    stat = weighted_auc(case["labels"], marker["scores"])
    assert close(stat(np.ones((1, case["n"])))[0], marker["auc"]["value"])


def test_weighted_median_is_numpy_median_of_each_resample():
    rng = np.random.default_rng(3)
    values = rng.random(51)
    values[[4, 9]] = np.nan  # undefined Dice (both masks empty) are left out
    clusters = rng.integers(0, 13, 51)
    codes = np.unique(clusters, return_inverse=True)[1]
    weights = cluster_weights(np.random.default_rng(0), codes, 13, 300)
    got = weighted_median(values)(weights)
    for row, value in zip(weights, got):
        sample = np.repeat(values, row.astype(int))
        assert value == np.median(sample[np.isfinite(sample)])


def test_bootstrap_is_seeded_and_independent_of_chunk_size():
    rng = np.random.default_rng(1)
    dice = rng.random(40)
    clusters = rng.integers(0, 9, 40)
    a = cluster_bootstrap(weighted_median(dice), clusters, n_boot=500, seed=7, chunk=13, keep_replicates=True)
    b = cluster_bootstrap(weighted_median(dice), clusters, n_boot=500, seed=7, keep_replicates=True)
    c = cluster_bootstrap(weighted_median(dice), clusters, n_boot=500, seed=8, keep_replicates=True)
    assert np.array_equal(a.replicates, b.replicates) and not np.array_equal(a.replicates, c.replicates)
    assert a.estimate == np.median(dice) and a.ci_low <= a.estimate <= a.ci_high
    assert a.n_valid == 500 and a.n_clusters == 9


def test_bootstrap_replicate_resamples_whole_clusters():
    codes = np.array([0, 0, 0, 1, 2, 2])
    weights = cluster_weights(np.random.default_rng(5), codes, 3, 200)
    assert np.all(weights[:, 0] == weights[:, 1]) and np.all(weights[:, 1] == weights[:, 2])
    assert np.all(weights[:, 4] == weights[:, 5])
    # K clusters drawn per replicate
    assert np.all(weights[:, [0, 3, 4]].sum(axis=1) == 3)
