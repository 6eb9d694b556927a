"""The coverage simulation script (reportmine.benchmarks.cluster_coverage) on a few studies."""

import math

from scipy import integrate
from scipy.special import expit, logit
from scipy.stats import norm

from reportmine.benchmarks import cluster_coverage as cc


def test_true_sensitivity_is_the_marginal_mean_by_quadrature():
    assert math.isclose(cc.true_sensitivity(0.0), cc.SENSITIVITY, rel_tol=1e-12)
    for sigma in (0.5, 2.0):
        ref, _ = integrate.quad(lambda u, s=sigma: expit(logit(cc.SENSITIVITY) + s * u) * norm.pdf(u), -12, 12)
        assert math.isclose(cc.true_sensitivity(sigma), ref, rel_tol=1e-9)


def test_small_run_agrees_with_the_engine_and_reports_every_method():
    rows = cc.run(studies=40, patients=30, seed=1)
    assert len(rows) == len(cc.DESIGNS) * len(cc.SIGMAS)
    for row in rows:
        assert row["engine_max_abs_difference"] <= 1e-12
        for method in cc.METHODS:
            assert 0 <= row[f"coverage {method}"] <= 1 and row[f"width {method}"] > 0
    text = cc.table(rows)
    assert text.count("\n| ") == len(rows) + 1 and "clustered logit-Wald coverage" in text
    assert cc.figure(rows)[:8] == b"\x89PNG\r\n\x1a\n"
