"""The calculators' file mode (`benchmark metrics|mcnemar|roc FILE … [--cluster-col]`).

Values go through the command line and are compared with R (survey, pROC) reference values.
"""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from reportmine.bench_cli import main
from reportmine.stats import diagnostic_metrics, mcnemar

DATA = Path(__file__).parent / "data"
CLUSTERED = DATA / "clustered_dev"
ROC = json.loads((DATA / "diagnostic_reference_dev.json").read_text())["roc_cases"]
MEASURES = ("sensitivity", "specificity", "accuracy", "ppv", "npv")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def close(got, ref):
    return math.isclose(float(got), float(ref), rel_tol=1e-9, abs_tol=1e-15)


@pytest.mark.parametrize("case", ("dev_small", "dev_singletons", "dev_large_clusters"))
def test_metrics_file_mode_clustered_matches_r(capsys, case):
    ref = json.loads((CLUSTERED / f"{case}.json").read_text())
    for test in ("test1", "test2"):
        code, out, err = run(capsys, "metrics", CLUSTERED / f"{case}.csv", "--label-col", "label", "--test-col", test,
                             "--cluster-col", "patient", "--json")
        assert code == 0, err
        payload = json.loads(out)
        for key in MEASURES:
            got, want = payload[key], ref[test][key]
            for field in ("estimate", "ci_low", "ci_high", "se", "design_effect"):
                assert close(got[field], want[field]), (test, key, field)
            assert got["n_clusters"] == ref["n_patients"] and got["denominator"] == want["denominator"]
            assert "cluster-robust" in got["method"]
        assert payload["n_clusters"] == ref["n_patients"] and payload["n_units"] == ref["n_nodes"]
        assert payload["unclustered"]["sensitivity"]["method"] == "clopper-pearson"


def test_metrics_file_mode_without_clusters_is_the_count_mode(capsys, tmp_path):
    frame = pd.read_csv(CLUSTERED / "dev_small.csv")
    frame["call"] = frame["test2"].map({1: "malignant", 0: "benign"})
    frame.loc[[3, 7], "call"] = "indeterminate"
    path = tmp_path / "nodes.xlsx"
    frame.to_excel(path, index=False)
    code, out, err = run(capsys, "metrics", path, "--label-col", "label", "--test-col", "call", "--json",
                         "--indeterminate", "negative")
    assert code == 0, err
    payload = json.loads(out)
    calls = frame["call"].replace("indeterminate", "benign").map({"malignant": 1, "benign": 0})
    tp = int(((calls == 1) & (frame["label"] == 1)).sum())
    fp = int(((calls == 1) & (frame["label"] == 0)).sum())
    fn = int(((calls == 0) & (frame["label"] == 1)).sum())
    tn = int(((calls == 0) & (frame["label"] == 0)).sum())
    assert payload["table"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    expected = diagnostic_metrics(tp, fp, fn, tn).as_dict()
    for key in (*MEASURES, "lr_positive", "lr_negative"):
        assert payload[key] == expected[key]
    assert "n_clusters" not in payload and "se" not in payload["sensitivity"]


@pytest.mark.parametrize("case", ("dev_small", "dev_singletons", "dev_large_clusters"))
def test_mcnemar_file_mode_clustered_matches_r(capsys, case):
    ref = json.loads((CLUSTERED / f"{case}.json").read_text())["mcnemar_clustered"]
    frame = pd.read_csv(CLUSTERED / f"{case}.csv")
    code, out, err = run(capsys, "mcnemar", CLUSTERED / f"{case}.csv", "--test-col", "test1", "--test-col", "test2",
                         "--label-col", "label", "--cluster-col", "patient", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert close(payload["clustered"]["statistic"], ref["statistic"])
    assert close(payload["clustered"]["p_value"], ref["p_value"])
    assert "Durkalski" in payload["clustered"]["method"]
    assert (payload["b"], payload["c"]) == (ref["b"], ref["c"])
    a = int(((frame.test1 == 1) & (frame.test2 == 1)).sum())
    d = int(((frame.test1 == 0) & (frame.test2 == 0)).sum())
    plain = mcnemar(ref["b"], ref["c"], a=a, d=d)
    assert payload["a"] == a and payload["d"] == d and payload["reported"] == plain.reported
    assert close(payload["exact"]["p_value"], plain.exact.p_value)
    obu = payload["obuchowski"]
    assert "Obuchowski" in obu["method"] and obu["ci_low"] < obu["difference"] < obu["ci_high"]
    assert close(obu["difference"], (ref["b"] - ref["c"]) / len(frame))
    for part in ("sensitivity", "specificity"):
        assert {"clustered", "obuchowski", "b", "c", "exact"} <= set(payload[part])


def test_mcnemar_file_mode_without_clusters(capsys):
    code, out, _ = run(capsys, "mcnemar", CLUSTERED / "dev_small.csv", "--test-col", "test1", "--test-col", "test2",
                       "--json")
    assert code == 0
    payload = json.loads(out)
    assert "clustered" not in payload and "sensitivity" not in payload and payload["n_units"] == 81


def _roc_csv(tmp_path, case):
    frame = pd.DataFrame({"label": case["labels"], "patient": [f"P{i}" for i in range(case["n"])]})
    for marker in case["markers"]:
        frame[marker["name"]] = marker["scores"]
    path = tmp_path / f"{case['id']}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", ROC, ids=lambda c: c["id"])
def test_roc_file_mode_clustered_singletons_equal_proc(capsys, tmp_path, case):
    path = _roc_csv(tmp_path, case)
    argv = ["roc", path, "--label-col", "label", "--cluster-col", "patient", "--json"]
    for marker in case["markers"]:
        argv += ["--score-col", marker["name"]]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    payload = json.loads(out)
    for got, marker in zip(payload["markers"], case["markers"]):
        c = got["clustered"]
        assert close(c["auc"], marker["auc"]["value"]) and close(c["variance"], marker["auc_variance_delong"]["value"])
        assert close(c["ci_low"], marker["auc_ci_delong"]["lower"])
        assert c["n_clusters"] == case["n"] and "Obuchowski" in c["method"]
    if "paired_delong_test" in case:
        ref, t = case["paired_delong_test"], payload["clustered_test"]
        assert close(t["z"], ref["statistic_z"]) and close(t["p_value"], ref["p_value"])
        assert close(t["ci_low"], ref["difference_ci_lower"]) and close(t["ci_high"], ref["difference_ci_upper"])


def test_roc_file_mode_large_clusters_widens_the_ci(capsys):
    code, out, _ = run(capsys, "roc", CLUSTERED / "dev_large_clusters.csv", "--label-col", "label",
                       "--score-col", "score", "--cluster-col", "patient", "--json")
    marker = json.loads(out)["markers"][0]
    assert code == 0 and marker["clustered"]["design_effect"] > 1
    assert marker["clustered"]["ci_low"] < marker["ci_low"] and marker["clustered"]["ci_high"] > marker["ci_high"]


@pytest.mark.parametrize(("argv", "message"), [
    (["metrics", "{csv}", "--label-col", "label", "--test-col", "patient"], "row 2, column 'patient'"),
    (["metrics", "{csv}", "--label-col", "label", "--test-col", "nope"], "no column 'nope'"),
    (["metrics", "{csv}", "--label-col", "label", "--test-col", "test1", "--tp", "3"], "not both"),
    (["metrics", "{csv}", "--label-col", "label"], "--test-col"),
    (["metrics", "--label-col", "label", "--test-col", "test1"], "FILE"),
    (["mcnemar", "{csv}", "--test-col", "test1"], "two --test-col"),
    (["roc", "{csv}", "--label-col", "label", "--score-col", "node"], "row 2, column 'node'"),
    (["metrics", "{bad}", "--label-col", "label", "--test-col", "test1", "--cluster-col", "patient"],
     "row 4, column 'patient': empty cluster id"),
])
def test_file_mode_errors_name_file_row_and_column(capsys, tmp_path, argv, message):
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(CLUSTERED / "dev_small.csv")
    frame.loc[2, "patient"] = ""
    frame.to_csv(bad, index=False)
    argv = [a.format(csv=CLUSTERED / "dev_small.csv", bad=bad) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
