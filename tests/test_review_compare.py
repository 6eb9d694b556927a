"""`benchmark compare` and the review: a review page of the split's reports (gold = pathology)
linked from the comparison, and `--report-overrides` replacing report labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_review import ReviewParser

from reportmine.bench_cli import main as bench
from reportmine.cli import main as reportmine
from reportmine.compare.demo import make_demo_cohort
from reportmine.mining.classify import ReportClassifier
from reportmine.stats import two_by_two


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    manifest = Path(make_demo_cohort(root, n=60, seed=7))
    frame = pd.read_csv(manifest)
    test = frame[frame["split"] == "test"]
    rng = np.random.default_rng(1)
    probs = np.clip(0.5 + 0.3 * (test["label"] == "malignant") + rng.normal(0, 0.2, len(test)), 0.01, 0.99)
    predictions = root / "preds.csv"
    pd.DataFrame({"ln_id": test["ln_id"], "prob_malignant": probs}).to_csv(predictions, index=False)
    return manifest, predictions, test.set_index("ln_id")


def _machine_calls(test: pd.DataFrame) -> dict[str, str]:
    clf = ReportClassifier()
    return {i: clf.classify(r["report_text"], level=r["level"], side=r["side"]).label_3class
            for i, r in test.iterrows()}


def _parse(path: Path) -> ReviewParser:
    parser = ReviewParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_compare_links_a_review_page_of_the_split(cohort, tmp_path):
    manifest, predictions, test = cohort
    out = tmp_path / "page"
    assert bench(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                  "--out", str(out)]) == 0
    assert 'href="review.html"' in (out / "index.html").read_text(encoding="utf-8")
    review = (out / "review.html").read_text(encoding="utf-8")
    assert str(tmp_path) not in review and str(manifest.resolve()) not in review  # no machine paths
    parsed = _parse(out / "review.html")
    machine = _machine_calls(test)
    assert sorted(r["attrs"]["data-id"] for r in parsed.reports) == sorted(test.index)
    for r in parsed.reports:
        i = r["attrs"]["data-id"]
        assert r["attrs"]["data-gold"] == test.at[i, "label"]
        assert r["attrs"]["data-label3"] == machine[i]
        assert r["text"] == test.at[i, "report_text"]


def test_report_overrides_change_the_report_calls(cohort, tmp_path):
    manifest, predictions, test = cohort
    machine = _machine_calls(test)
    flip, keep = list(test.index[:2])
    flipped = "benign" if machine[flip] == "malignant" else "malignant"
    train_id = pd.read_csv(manifest).query("split == 'train'")["ln_id"].iloc[0]
    corrections = tmp_path / "corrections.csv"
    pd.DataFrame({"id": [flip, keep, train_id], "label": [flipped, machine[keep], "benign"],
                  "note": ["", "", "other split"],
                  "reviewer_label_time": ["2026-11-27T12:00:00Z"] * 3}).to_csv(corrections, index=False)
    out = tmp_path / "page"
    assert bench(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                  "--unit", "node",  # node-level Table 3 holds the 2x2 counts
                  "--report-overrides", str(corrections), "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))["report_overrides"]
    assert record["labels_overridden"] == 1 and record["reviewed"] == 2 and record["confirmed"] == 1
    calls = {**machine, flip: flipped}
    gold = (test["label"] == "malignant").astype(int)
    expected = two_by_two(gold, [0 if calls[i] == "benign" else 1 for i in gold.index])  # indeterminate positive
    table = pd.read_csv(out / "tables" / "table3_accuracy.csv", encoding="utf-8-sig")
    row = table[table["index test"].str.contains("report", case=False)].iloc[0]
    assert (row["TP"], row["FP"], row["FN"], row["TN"]) == (expected.tp, expected.fp, expected.fn, expected.tn)


def test_compare_with_a_classify_output_and_bad_overrides(cohort, tmp_path, capsys):
    manifest, predictions, test = cohort
    classified = tmp_path / "reports.classified.xlsx"
    assert reportmine(["classify", str(manifest), "--id-col", "ln_id", "--text-col", "report_text",
                       "--out", str(classified), "--quiet"]) == 0
    out = tmp_path / "page"
    assert bench(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                  "--reports", str(classified), "--out", str(out)]) == 0
    parsed = _parse(out / "review.html")
    assert sorted(r["attrs"]["data-id"] for r in parsed.reports) == sorted(test.index)
    assert all(r["attrs"]["data-gold"] == test.at[r["attrs"]["data-id"], "label"] for r in parsed.reports)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nnot-a-node,benign\n", encoding="utf-8")
    assert bench(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                  "--reports", str(classified), "--report-overrides", str(bad), "--out", str(tmp_path / "p2")]) == 2
    err = capsys.readouterr().err
    assert "row 2, column id: 'not-a-node'" in err
    assert not (tmp_path / "p2").exists()


def test_compare_reads_back_the_formula_escaped_ids_of_a_classify_output(cohort, tmp_path):
    """Ids starting with = or - are written escaped ('=N001) by `reportmine classify`; compare
    must read them back as they were, or no report joins its node."""
    manifest, predictions, test = cohort
    frame = pd.read_csv(manifest)
    frame["ln_id"] = "=" + frame["ln_id"].astype(str)
    odd_manifest = tmp_path / "manifest.csv"
    frame.to_csv(odd_manifest, index=False)
    for name in ("images", "masks"):
        source = Path(manifest).parent / name
        if source.exists():
            (tmp_path / name).symlink_to(source)
    preds = pd.read_csv(predictions)
    preds["ln_id"] = "=" + preds["ln_id"].astype(str)
    odd_predictions = tmp_path / "preds.csv"
    preds.to_csv(odd_predictions, index=False)
    classified = tmp_path / "reports.classified.csv"
    assert reportmine(["classify", str(odd_manifest), "--id-col", "ln_id", "--text-col", "report_text",
                       "--out", str(classified), "--quiet"]) == 0
    assert "'=" in classified.read_text(encoding="utf-8-sig")  # the writer did escape them
    out = tmp_path / "page"
    assert bench(["compare", "--manifest", str(odd_manifest), "--predictions", str(odd_predictions),
                  "--threshold", "0.5", "--unit", "node", "--reports", str(classified), "--out", str(out)]) == 0
    machine = _machine_calls(test)
    gold = (test["label"] == "malignant").astype(int)
    expected = two_by_two(gold, [0 if machine[i] == "benign" else 1 for i in gold.index])
    table = pd.read_csv(out / "tables" / "table3_accuracy.csv", encoding="utf-8-sig")
    row = table[table["index test"].str.contains("report", case=False)].iloc[0]
    assert (row["TP"], row["FP"], row["FN"], row["TN"]) == (expected.tp, expected.fp, expected.fn, expected.tn)
    parsed = _parse(out / "review.html")
    assert sorted(r["attrs"]["data-id"] for r in parsed.reports) == sorted("=" + i for i in test.index)
