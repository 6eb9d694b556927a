"""The comparison page as a reader sees it: index tests named by the user, figures and tables
numbered in the order they appear, no empty tables, no dash inside an interval, words never
broken mid-word, a note when a network is scored on nodes it trained on, one clear line when
no report id matches; the demo's default folders; help texts that show their defaults."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportmine import bench_cli
from reportmine.bench_cli import main
from reportmine.compare.demo import DEMO_OUT, make_demo_cohort, runs_folder
from reportmine.compare.page import with_ci
from reportmine.compare.run import _trained_on, named_path
from reportmine.core.errors import InputError
from ynet.cli import build_parser as ynet_parser


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_demo_cohort(tmp_path_factory.mktemp("cohort"), n=40, seed=7)


@pytest.fixture(scope="module")
def predictions(cohort, tmp_path_factory):
    frame = pd.read_csv(cohort)
    test = frame[frame["split"] == "test"]
    rng = np.random.default_rng(1)
    probs = np.clip(0.5 + 0.3 * (test["label"] == "malignant") + rng.normal(0, 0.2, len(test)), 0.01, 0.99)
    path = tmp_path_factory.mktemp("preds") / "preds.csv"
    pd.DataFrame({"ln_id": test["ln_id"], "prob_malignant": probs}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def page(cohort, predictions, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "page"
    code = main(["compare", "--manifest", str(cohort), "--predictions", f"Model A={predictions}",
                 "--predictions", f"Model B={predictions}", "--threshold", "0.5", "--out", str(out)])
    assert code == 0
    return (out / "index.html").read_text(encoding="utf-8")


def test_index_tests_carry_the_names_the_user_chose(page):
    assert 'data-test="Model A"' in page and 'data-test="Model B"' in page
    assert "Predictions: preds" not in page


def test_two_index_tests_with_one_name_are_refused(cohort, predictions, tmp_path, capsys):
    code = main(["compare", "--manifest", str(cohort), "--predictions", f"Same={predictions}",
                 "--predictions", f"Same={predictions}", "--threshold", "0.5", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "two index tests are named 'Same'" in err and "\n" not in err.strip()
    assert not (tmp_path / "p").exists()


def test_named_path_splits_on_the_first_equals_unless_the_path_exists(tmp_path):
    assert named_path("Y-Net, fold 0=runs/a=b/best.pt") == ("Y-Net, fold 0", Path("runs/a=b/best.pt"))
    assert named_path("runs/best.pt") == (None, Path("runs/best.pt"))
    odd = tmp_path / "x=y.csv"
    odd.write_text("ln_id,prob_malignant\n", encoding="utf-8")
    assert named_path(str(odd)) == (None, odd)  # an existing path is taken whole
    with pytest.raises(InputError, match="NAME=PATH"):
        named_path("=runs/best.pt")


def test_figures_and_tables_are_numbered_in_order_of_appearance(page):
    figures = [int(n) for n in re.findall(r"<figcaption>Figure (\d+)\.", page)]
    assert figures == list(range(1, len(figures) + 1)) and len(figures) >= 3
    assert page.count("<figure") == len(figures)  # every figure numbered
    tables = [int(n) for n in re.findall(r"<h2>Table (\d+)\.", page)]
    assert tables == list(range(1, len(tables) + 1)) and tables


def test_no_word_is_broken_and_no_empty_table_or_dash_inside_an_interval(page):
    assert "break-all" not in page
    assert "The manifest has no level/side columns" not in page
    assert not re.search(r"\([^()]*–\s*—|\(—", page)
    for table in re.findall(r"<table[^>]*>(.*?)</table>", page, flags=re.S):
        assert "<td" in table  # every table shown has rows
    assert "indeterminate reports" in page  # the cohort has reports: how they count is said


def test_an_undefined_bound_is_said_in_words():
    assert with_ci(0.0, 0.0, float("nan")) == "0.00 (CI not estimable)"
    assert with_ci(float("nan"), 0.1, 0.2) == "not estimable"
    assert with_ci(1.5, 0.5, math.inf) == "1.50 (0.50–∞)"
    assert with_ci(0.25, 0.1, 0.4) == "0.25 (0.10–0.40)"


def test_no_report_id_matches_is_one_clear_line(cohort, tmp_path, capsys):
    reports = tmp_path / "reports.csv"
    pd.DataFrame({"id": ["x1", "x2"], "label": ["malignant", "benign"], "text": ["a", "b"]}).to_csv(
        reports, index=False)
    code = main(["compare", "--manifest", str(cohort), "--reports", str(reports), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no report id matches" in err and "x1" in err and "\n" not in err
    assert "have no result" not in err


def test_scoring_nodes_the_network_trained_on_gives_a_note(tmp_path):
    run = tmp_path / "run"
    (run / "fold_0").mkdir(parents=True)
    (run / "fold_0" / "best.pt").write_bytes(b"")
    pd.DataFrame({"id": ["a", "b", "c"], "split": ["train", "train", "test"]}).to_csv(run / "splits.csv",
                                                                                      index=False)
    note = _trained_on(run / "fold_0" / "best.pt", "Y-Net", ["a", "b", "c"], "lymph node")
    assert note.startswith("Y-Net was trained on 2 of the 3 lymph nodes scored here")
    assert _trained_on(run / "fold_0" / "best.pt", "Y-Net", ["c"], "node") is None


def test_the_demo_writes_a_fresh_folder_by_default_not_the_committed_example():
    assert DEMO_OUT == bench_cli.DEMO_OUT and not DEMO_OUT.startswith("reports")
    demo = bench_cli.build_parser().parse_args(["demo"])
    assert demo.out == DEMO_OUT and demo.keep_runs is None
    assert runs_folder(DEMO_OUT).name == "reportmine-demo-runs"
    assert runs_folder("reports/demo").as_posix() == "reports/demo-runs"


def _help(parser, *path) -> str:
    for name in path:
        parser = next(a for a in parser._subparsers._group_actions).choices[name]
    return " ".join(parser.format_help().split())


def test_help_names_the_options_that_exist_and_shows_defaults():
    train = _help(ynet_parser(), "train")
    assert "--n-folds" not in train and "--folds FOLDS" in train
    assert "learning rate, in (0, 10] (default 0.001)" in train
    assert "at least 1 (default 8)" in train
    demo = _help(bench_cli.build_parser(), "demo")
    assert "(default 12)" in demo and f"default {DEMO_OUT}" in demo
    args = ynet_parser().parse_args(["train", "--manifest", "m", "--out", "o", "--fold", "1", "--n-folds", "3"])
    assert (args.fold, args.folds) == (1, 3)  # the earlier spelling still works
    args = ynet_parser().parse_args(["train", "--manifest", "m", "--out", "o", "--fold", "1", "--folds", "3"])
    assert (args.fold, args.folds) == (1, 3)
