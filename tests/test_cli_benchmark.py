"""The `benchmark` calculators: tables, JSON contracts, errors, and a light start."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from reportmine.bench_cli import main
from reportmine.stats import auc_delong, delong_test, diagnostic_metrics


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_metrics_json_contract(capsys):
    code, out, _ = _run(capsys, "metrics", "--tp", 158, "--fp", 35, "--fn", 118, "--tn", 236, "--json")
    assert code == 0
    payload = json.loads(out)
    expected = diagnostic_metrics(158, 35, 118, 236)
    for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv", "lr_positive", "lr_negative"):
        assert set(payload[key]) == {"estimate", "ci_low", "ci_high", "method"}
        assert payload[key]["estimate"] == getattr(expected, key).estimate
    assert payload["ppv"]["method"].startswith("logit")
    assert payload["sensitivity"]["method"] == "clopper-pearson"


def test_metrics_ci_method_prevalence_and_nonfinite(capsys):
    code, out, _ = _run(capsys, "metrics", "--tp", 10, "--fp", 0, "--fn", 5, "--tn", 20, "--json",
                        "--ci-method", "wilson")
    payload = json.loads(out)
    assert all(payload[k]["method"] == "wilson" for k in ("sensitivity", "specificity", "accuracy"))
    assert payload["lr_positive"]["estimate"] == "Inf" and payload["lr_positive"]["ci_low"] == "NaN"
    code, out, _ = _run(capsys, "metrics", "--tp", 90, "--fp", 20, "--fn", 10, "--tn", 80, "--prevalence", "10",
                        "--json")
    assert math.isclose(json.loads(out)["ppv"]["estimate"], 0.09 / (0.09 + 0.18))
    for spelled in ("0.1", "10%", " 10 % "):  # the same prevalence, however written
        code, out, _ = _run(capsys, "metrics", "--tp", 90, "--fp", 20, "--fn", 10, "--tn", 80,
                            "--prevalence", spelled, "--json")
        assert code == 0 and math.isclose(json.loads(out)["ppv"]["estimate"], 0.09 / (0.09 + 0.18))
    code, _, err = _run(capsys, "metrics", "--tp", 90, "--fp", 20, "--fn", 10, "--tn", 80, "--prevalence", "1")
    assert code == 2 and "ambiguous" in err and "1%" in err
    code, out, _ = _run(capsys, "metrics", "--tp", 1450, "--fp", 1007, "--fn", 74, "--tn", 528)
    assert "Sensitivity  95.14 %" in out and "clopper-pearson" in out


@pytest.mark.parametrize("argv", [
    ["metrics", "--tp", "-1", "--fp", "2", "--fn", "3", "--tn", "4"],
    ["metrics", "--tp", "0", "--fp", "2", "--fn", "0", "--tn", "4"],
    ["metrics", "--tp", "x", "--fp", "2", "--fn", "3", "--tn", "4"],
    ["mcnemar", "--b", "-3", "--c", "2"],
    ["reconstruct", "--sen", "95", "--n-pos", "10"],
])
def test_bad_arguments_exit_2(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.strip() and out == ""


def test_mcnemar_json(capsys):
    code, out, _ = _run(capsys, "mcnemar", "--b", 12, "--c", 4, "--json")
    payload = json.loads(out)
    assert set(payload) >= {"exact", "chi2", "chi2_corrected"}
    assert set(payload["chi2"]) >= {"statistic", "p_value"} and payload["chi2"]["statistic"] == 4.0
    assert payload["chi2_corrected"]["statistic"] == (12 - 4 - 1) ** 2 / 16


def test_roc_one_and_two_markers(tmp_path, capsys):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    frame = pd.DataFrame({"pathology": np.where(y == 1, "malignant", "benign"),
                          "model": rng.normal(y, 1), "other": rng.normal(y * 0.5, 1)})
    path = tmp_path / "scores.xlsx"
    frame.to_excel(path, index=False)
    code, out, err = _run(capsys, "roc", path, "--label-col", "pathology", "--score-col", "model",
                          "--score-col", "other", "--json")
    assert code == 0, err
    payload = json.loads(out)
    (a, b) = payload["markers"]
    ref = auc_delong(y, frame["model"])
    assert a["name"] == "model" and a["auc"] == ref.auc and a["ci_low"] == ref.ci_low
    assert {"youden_threshold", "sensitivity", "specificity"} <= set(a)
    t = delong_test(y, frame["model"], frame["other"])
    assert payload["delong_test"]["z"] == t.z and payload["delong_test"]["p_value"] == t.p_value


@pytest.mark.parametrize("problem", ["text", "single", "missing_col"])
def test_roc_bad_input(tmp_path, capsys, problem):
    frame = pd.DataFrame({"y": [1, 0, 1, 0], "s": [0.9, 0.2, 0.7, 0.1]})
    col = "s"
    if problem == "text":
        frame["s"] = ["0.9", "high", "0.7", "0.1"]
    elif problem == "single":
        frame["y"] = [1, 1, 1, 1]
    else:
        col = "score"
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    code, out, err = _run(capsys, "roc", path, "--label-col", "y", "--score-col", col)
    assert code == 2 and "\n" not in err.strip() and "in.csv" in err
    if problem == "text":
        assert "row 3" in err and "'high'" in err


def test_reconstruct_cli(capsys):
    code, out, _ = _run(capsys, "reconstruct", "--sen", "95.14", "--spe", "34.3", "--acc", "64.66", "--ppv",
                        "59.02", "--npv", "87.71", "--n-pos", 1524, "--n-neg", 1535, "--json")
    payload = json.loads(out)
    assert payload["exactly_consistent"] is False
    best = payload["best_fits"][0]
    assert (best["tp"], best["fp"], best["fn"], best["tn"]) == (1450, 1007, 74, 528)
    assert best["mismatched"] == ["specificity"]
    code, out, _ = _run(capsys, "reconstruct", "--sen", "57.25", "--spe", "87.08", "--acc", "72.03", "--ppv",
                        "81.87", "--npv", "66.67", "--n", 547)
    assert "276/271" in out and "1 consistent table" in out


def test_calculators_do_not_import_torch_or_the_network():
    code = ("import sys; from reportmine.bench_cli import main; main(['metrics','--tp','1','--fp','1','--fn','1',"
            "'--tn','1']); bad=[m for m in ('torch','ynet','spacy','rapidfuzz','pandas') if m in sys.modules];"
            "print('LOADED', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("LOADED []")
