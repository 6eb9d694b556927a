"""`benchmark compare --readers`: the page's reader-study section equals `reportmine.stats.mrmc`."""

import json
from html import unescape

import numpy as np
import pandas as pd
import pytest
from test_compare import Tables as Cells  # the page's table parser, shared with the page tests

from reportmine.bench_cli import main
from reportmine.compare.demo import make_demo_cohort
from reportmine.compare.readers import simulate_readings
from reportmine.stats.mrmc import mrmc_from_table, reader_study

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader_cohort")
    manifest = make_demo_cohort(root, n=60, seed=5)
    frame = pd.read_csv(manifest, dtype={"ln_id": str})
    test = frame[frame["split"] == "test"]
    truth = (test["label"] == "malignant").astype(int)
    rng = np.random.default_rng(0)
    probs = np.clip(0.5 + 0.3 * truth + rng.normal(0, 0.2, len(test)), 0.01, 0.99)
    predictions = root / "preds.csv"
    pd.DataFrame({"ln_id": test["ln_id"], "prob_malignant": probs}).to_csv(predictions, index=False)
    readings = simulate_readings(test["ln_id"].tolist(), truth.tolist(), readers=4, seed=3,
                                 tests=("unaided", "aided " + HOSTILE))
    path = root / "readings.csv"
    readings.to_csv(path, index=False)
    return {"manifest": manifest, "predictions": predictions, "readings": path, "frame": readings}


def _compare(study, out, readings=None):
    argv = ["compare", "--manifest", str(study["manifest"]), "--predictions", str(study["predictions"]),
            "--threshold", "0.5", "--out", str(out)]
    if readings is not None:
        argv += ["--readers", str(readings)]
    return main(argv)


def test_reader_section_equals_the_mrmc_engine(study, tmp_path, capsys):
    out = tmp_path / "page"
    assert _compare(study, out, study["readings"]) == 0, capsys.readouterr().err
    html = (out / "index.html").read_text(encoding="utf-8")
    page = Cells()
    page.feed(html)
    expected = mrmc_from_table(study["readings"])
    assert expected.tests == ("aided " + HOSTILE, "unaided")

    rows = page.tables["reader-study-tests"][1:]
    assert [r[0]["text"] for r in rows] == list(expected.tests)
    for row, mean in zip(rows, expected.test_means):
        assert float(row[1]["attrs"]["data-estimate"]) == mean.estimate
        assert float(row[4]["attrs"]["data-low"]) == mean.ci_low
        assert float(row[4]["attrs"]["data-high"]) == mean.ci_high
        assert row[3]["text"] == f"{mean.df:.1f}"
    (diff_row,) = page.tables["reader-study-differences"][1:]
    (difference,) = expected.differences
    assert diff_row[0]["text"] == difference.comparison
    assert float(diff_row[1]["attrs"]["data-estimate"]) == difference.estimate
    assert float(diff_row[5]["attrs"]["data-p"]) == difference.p_value
    readers = page.tables["reader-study-readers"][1:]
    assert [r[0]["text"] for r in readers] == list(expected.readers)
    assert readers[0][1]["text"] == f"{expected.reader_values[0][0]:.3f}"
    variance = {c[1]["attrs"]["data-key"]: c[1]["text"] for c in page.tables["reader-study-variance"][1:]}
    assert variance == {k: f"{v:.3g}" for k, v in expected.variance_components.as_dict().items()}

    sentence = unescape(html)
    assert "Hillis' (2007)" in sentence and "jackknife covariance" in sentence
    assert "random readers and random cases" in sentence
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert not any(tag == "script" for tag, _ in page.tags)
    figure = next(a for t, a in page.tags if t == "img" and a.get("alt") == "Readers' ROC curves")
    assert figure["src"].startswith("data:image/png;base64,")
    assert (out / "figures" / "reader_study.png").stat().st_size > 1000

    record = json.loads((out / "run.json").read_text(encoding="utf-8"))["reader_study"]
    assert record["analysis"]["global_test"]["p_value"] == expected.global_test.p_value
    assert record["analysis"]["variance_components"] == expected.variance_components.as_dict()
    sheets = pd.read_excel(out / "tables.xlsx", sheet_name=None)
    assert sheets["reader_study_tests"]["estimate"].tolist() == [m.estimate for m in expected.test_means]
    assert len(sheets["reader_study_readers"]) == 8


def test_no_readers_no_section(study, tmp_path, capsys):
    out = tmp_path / "page"
    assert _compare(study, out) == 0, capsys.readouterr().err
    assert 'id="reader-study"' not in (out / "index.html").read_text(encoding="utf-8")


def test_readings_that_contradict_the_manifest_or_the_design_are_refused(study, tmp_path, capsys):
    frame = study["frame"].copy()
    case = frame["case"].iloc[0]
    frame.loc[frame["case"] == case, "truth"] = 1 - frame.loc[frame["case"] == case, "truth"]
    bad = tmp_path / "contradicts.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "page"
    assert _compare(study, out, bad) == 2
    err = capsys.readouterr().err
    assert f"case '{case}' has truth" in err and "reference standard" in err and err.count("\n") == 1
    assert not (out / "index.html").exists()

    missing = tmp_path / "missing.csv"
    study["frame"].drop(index=5).to_csv(missing, index=False)
    assert _compare(study, tmp_path / "page2", missing) == 2
    err = capsys.readouterr().err
    assert "has no reading by reader" in err and str(missing) in err
    assert not (tmp_path / "page2" / "index.html").exists()


def test_simulated_readings_form_a_factorial_study():
    frame = simulate_readings([f"n{k}" for k in range(20)], [k % 2 for k in range(20)], readers=3, seed=1)
    s = reader_study(frame.test, frame.reader, frame.case, frame.truth, frame.rating)
    assert s.ratings.shape == (2, 3, 20)
    assert set(np.unique(s.ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
