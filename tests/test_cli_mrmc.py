"""`benchmark mrmc FILE`: the JSON contract against MRMCaov, the readable table, and bad input."""

import json
from pathlib import Path

import pandas as pd
import pytest

from reportmine.bench_cli import main

DATA = Path(__file__).parent / "data" / "mrmc"
REFERENCE = json.loads((DATA / "vandyke.json").read_text())


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _reference(metric, cov, fixed):
    return next(c for c in REFERENCE["analyses"] if (c["metric"], c["cov"], c["fixed"]) == (metric, cov, fixed))


@pytest.mark.parametrize("metric, cov, fixed, file, option", [
    ("empirical_auc", "unbiased", "none", "vandyke.csv", "auc"),
    ("empirical_auc", "DeLong", "readers", "vandyke.csv", "auc"),
    ("binary_spec", "jackknife", "cases", "vandyke_binary.csv", "specificity"),
])
def test_json_contract_carries_mrmcaov_values(capsys, metric, cov, fixed, file, option):
    code, out, err = _run(capsys, "mrmc", DATA / file, "--metric", option, "--covariance", cov.lower(),
                          "--fixed", fixed, "--json")
    assert code == 0, err
    payload = json.loads(out)
    ref = _reference(metric, cov, fixed)["summary"]
    if fixed == "cases":
        assert "variance_components" not in payload
    else:
        assert set(payload["variance_components"]) == {"reader", "test_reader", "error", "cov1", "cov2", "cov3"}
        assert list(payload["variance_components"].values()) == pytest.approx(ref["vcov_comps"]["Estimate"],
                                                                            rel=1e-9)
    g, eq = payload["global_test"], ref["test_equality"]
    assert g["statistic"] == pytest.approx(eq.get("F", eq.get("X2")), rel=1e-9)
    assert g["p_value"] == pytest.approx(eq["p-value"], rel=1e-9)
    assert g["df1"] == eq.get("df1", eq.get("df"))
    assert ("df2" in g) == (fixed != "readers")
    if "df2" in g:
        assert g["df2"] == pytest.approx(eq["df2"], rel=1e-9)
    (d,) = payload["differences"]
    assert {"comparison", "estimate", "se", "df", "ci_low", "ci_high", "p_value"} <= set(d)
    assert d["comparison"] == "T1 - T2"
    diffs = ref["test_diffs"]
    assert [d["estimate"], d["se"], d["ci_low"], d["ci_high"], d["p_value"]] == pytest.approx(
        [diffs["Estimate"], diffs["StdErr"], *diffs["CI"][0], diffs["p-value"]], rel=1e-9)
    assert d["df"] == (pytest.approx(diffs["df"], rel=1e-9) if "df" in diffs else None)
    tests = payload["tests"]
    assert [t["test"] for t in tests] == ["T1", "T2"]
    for k, t in enumerate(tests):
        assert set(t) == {"test", "estimate", "se", "df", "ci_low", "ci_high"}
        means = ref["test_means"]
        assert [t["estimate"], t["se"], t["ci_low"], t["ci_high"]] == pytest.approx(
            [means["Estimate"][k], means["StdErr"][k], *means["CI"][k]], rel=1e-9)
        assert t["df"] == (pytest.approx(means["df"][k], rel=1e-9) if "df" in means else None)


def test_readable_table_and_other_column_names_in_a_workbook(capsys, tmp_path):
    frame = pd.read_csv(DATA / "vandyke.csv").rename(columns={
        "test": "modality", "reader": "radiologist", "case": "patient", "truth": "pathology", "rating": "score"})
    frame["pathology"] = frame["pathology"].map({1: "malignant", 0: "benign"})
    path = tmp_path / "readings.xlsx"
    frame.to_excel(path, index=False)
    code, out, err = _run(capsys, "mrmc", path, "--test-col", "modality", "--reader-col", "radiologist",
                          "--case-col", "patient", "--truth-col", "pathology", "--rating-col", "score")
    assert code == 0, err
    assert "Obuchowski–Rockette" in out and "Hillis" in out and "jackknife" in out
    assert "F(1, 15.26) = 4.4563, p = 0.05167" in out
    assert "T1 - T2" in out and "R5" in out


@pytest.mark.parametrize("edit, argv, message", [
    (lambda f: f.drop(index=3), (), "has no reading by reader 'R2' in test 'T2'"),
    (lambda f: f.assign(rating=f.rating.astype(object).where(f.index != 10, "n/a")), (), "row 12: rating 'n/a'"),
    (lambda f: f.assign(reader="R1"), (), "only one reader"),
    (None, ("--metric", "sensitivity"), "row 3: rating '3' is not a binary read"),
    (None, ("--rating-col", "score"), "no column 'score'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, edit, argv, message):
    frame = pd.read_csv(DATA / "vandyke.csv")
    path = tmp_path / "readings.csv"
    (edit(frame) if edit else frame).to_csv(path, index=False)
    code, out, err = _run(capsys, "mrmc", path, *argv)
    assert code == 2 and out == ""
    assert message in err and str(path) in err
    assert err.count("\n") == 1


def test_delong_for_sensitivity_is_refused(capsys):
    code, _, err = _run(capsys, "mrmc", DATA / "vandyke_binary.csv", "--metric", "sensitivity",
                        "--covariance", "delong")
    assert code == 2 and "AUC only" in err and err.count("\n") == 1
