"""`benchmark compare`: the page's numbers, flow, escaping and bad input."""

import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportmine.bench_cli import main
from reportmine.compare.demo import make_demo_cohort
from reportmine.stats import (
    auc_clustered,
    auc_delong,
    clustered_metrics,
    compare_paired_clustered,
    diagnostic_metrics,
    two_by_two,
)
from ynet.train import TrainConfig, train

HOSTILE = '<script>alert("x")</script>" onload="steal()'


class Tables(HTMLParser):
    """Collects table cells (text and attributes) by table id, and every tag seen."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[dict]]] = {}
        self.tags: list[tuple[str, dict]] = []
        self._table = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
            self.tables[self._table].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"attrs": attrs, "text": ""}
            self._row.append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    manifest = make_demo_cohort(root, n=60, seed=5)
    frame = pd.read_csv(manifest)
    test_rows = frame.index[frame["split"] == "test"]
    # a report that is wrong about a benign test node, carrying hostile text
    benign_test = [i for i in test_rows if frame.loc[i, "label"] == "benign"][0]
    frame.loc[benign_test, "report_text"] = "Right level III lymph node, metastatic. " + HOSTILE
    frame.to_csv(manifest, index=False)
    return manifest


@pytest.fixture(scope="module")
def predictions(cohort, tmp_path_factory):
    frame = pd.read_csv(cohort)
    test = frame[frame["split"] == "test"]
    rng = np.random.default_rng(0)
    probs = np.clip(0.5 + 0.3 * (test["label"] == "malignant") + rng.normal(0, 0.2, len(test)), 0.01, 0.99)
    path = tmp_path_factory.mktemp("preds") / "preds.csv"
    pd.DataFrame({"ln_id": test["ln_id"], "prob_malignant": probs}).to_csv(path, index=False)
    return path


def _page(out: Path) -> Tables:
    parser = Tables()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    return parser


def test_page_numbers_equal_the_engine(cohort, predictions, tmp_path, capsys):
    out = tmp_path / "page"
    code = main(["compare", "--manifest", str(cohort), "--predictions", str(predictions), "--threshold", "0.5",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    page = _page(out)
    frame = pd.read_csv(cohort)
    test = frame[frame["split"] == "test"].set_index("ln_id")
    preds = pd.read_csv(predictions).set_index("ln_id")
    gold = (test["label"] == "malignant").astype(int)
    model_calls = (preds.loc[gold.index, "prob_malignant"] > 0.5).astype(int)
    expected = {"Predictions: preds": diagnostic_metrics(two_by_two(gold, model_calls))}
    # the reports: classified by reportmine from the manifest text, indeterminate counted positive
    from reportmine.mining.classify import ReportClassifier

    clf = ReportClassifier()
    calls = [clf.classify(test.loc[i, "report_text"], level=test.loc[i, "level"], side=test.loc[i, "side"]).label_3class
             for i in gold.index]
    expected["Original ultrasound reports"] = diagnostic_metrics(two_by_two(gold, calls, indeterminate="positive"))

    # the demo cohort's patients have several nodes: Table 3 is clustered, the node-level
    # (MedCalc) numbers are Supplementary Table S1
    assert test["patient_id"].nunique() < len(test)
    rows = page.tables["table-s1"][1:]
    assert len(rows) == 2
    for row in rows:
        name = row[0]["text"]
        metrics = expected[name]
        for cell in row[1:8]:
            key = cell["attrs"]["data-key"]
            engine = getattr(metrics, key)
            for attr, value in (("data-estimate", engine.estimate), ("data-low", engine.ci_low),
                                ("data-high", engine.ci_high)):
                shown = float(cell["attrs"][attr])  # nan / inf follow the engine's zero-cell rule
                assert shown == pytest.approx(value, rel=1e-12, nan_ok=True), (name, key, attr)
            if key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
                assert cell["text"].startswith(f"{100 * engine.estimate:.1f} (")
        auc_cell = row[8]
        if name.startswith("Predictions"):
            ref = auc_delong(gold.to_numpy(), preds.loc[gold.index, "prob_malignant"].to_numpy())
            assert float(auc_cell["attrs"]["data-estimate"]) == pytest.approx(ref.auc, rel=1e-12)
        else:
            assert auc_cell["text"] == "—"

    # Table 3: the clustered ratio estimators and Obuchowski's AUC, patients as clusters
    patients = test.loc[gold.index, "patient_id"].tolist()
    clustered = {"Predictions: preds": clustered_metrics(gold.tolist(), model_calls.tolist(), patients),
                 "Original ultrasound reports": clustered_metrics(gold.tolist(), calls, patients,
                                                                  indeterminate="positive")}
    rows = page.tables["table3"][1:]
    assert len(rows) == 2 and len(rows[0]) == 7  # no likelihood ratios in the clustered table
    for row in rows:
        name = row[0]["text"]
        for cell in row[1:6]:
            engine = getattr(clustered[name], cell["attrs"]["data-key"])
            for attr, value in (("data-estimate", engine.estimate), ("data-low", engine.ci_low),
                                ("data-high", engine.ci_high), ("data-design-effect", engine.design_effect)):
                assert float(cell["attrs"][attr]) == pytest.approx(value, rel=1e-12, nan_ok=True), (name, attr)
        if name.startswith("Predictions"):
            ref = auc_clustered(gold.to_numpy(), preds.loc[gold.index, "prob_malignant"].to_numpy(), patients)
            assert float(row[6]["attrs"]["data-low"]) == pytest.approx(ref.ci_low, rel=1e-12)
    caption = next(t for t in page.tags if t[1].get("id") == "table3-caption")
    assert caption
    n_patients = test["patient_id"].nunique()
    assert f"{len(test)} nodes from {n_patients} patients" in (out / "index.html").read_text(encoding="utf-8")
    assert "Design effects: Predictions: preds — Sen " in (out / "index.html").read_text(encoding="utf-8")
    # the paired comparisons use the clustered tests
    paired = compare_paired_clustered(gold.tolist(), (pd.Series(calls) != "benign").astype(int).tolist(),
                                      model_calls.tolist(), patients)
    durkalski = [c for r in page.tables["paired"][1:] for c in r if c["attrs"].get("data-test") == "durkalski"]
    assert durkalski[1]["text"] == _pval(paired.sensitivity.durkalski.p_value)
    assert "paired-s2" in page.tables

    # 2x2 table on the page agrees too
    for row in page.tables["two-by-two"][1:]:
        t = expected[row[0]["text"]].table
        assert [int(c["text"]) for c in row[1:5]] == [t.tp, t.fp, t.fn, t.tn]

    # flow: counts add up
    html = (out / "index.html").read_text(encoding="utf-8")
    flow = {a.get("data-step") + (a.get("data-test") or ""): None for tag, a in page.tags if a.get("data-step")}
    assert flow
    n_manifest = len(frame)
    assert f"<b>{n_manifest}</b>nodes in the manifest" in html
    assert f"<b>{len(test)}</b>in the split" in html
    assert f"<b>{len(test)}</b>with Predictions: preds" in html

    # hostile report text is escaped, never markup
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#34; onload=&#34;steal()" in html
    assert not any(tag == "script" for tag, _ in page.tags)
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    errors = page.tables["errors"]
    assert any("alert" in c["text"] for row in errors for c in row)

    # tables and figures as files; every image inline
    xlsx = pd.ExcelFile(out / "tables.xlsx")
    assert {"flow", "table3_accuracy", "paired_tests", "table1_dictionary", "table2_location",
            "tableS1_unclustered"} <= set(xlsx.sheet_names)
    assert (out / "tables" / "table3_accuracy.csv").exists() and (out / "figures" / "roc.png").exists()
    # a UTF-8 BOM on every CSV table, so Excel reads non-ASCII headers and names right
    assert all(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in (out / "tables").glob("*.csv"))
    assert all(a["src"].startswith("data:image/png;base64,") for tag, a in page.tags if tag == "img")
    assert "table1" in page.tables and "paired" in page.tables


def _pval(p):
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def test_unit_node_and_unit_name_and_relative_paths(cohort, predictions, tmp_path, capsys):
    out = tmp_path / "sub" / "page"
    out.parent.mkdir()
    code = main(["compare", "--manifest", str(cohort), "--predictions", str(predictions), "--threshold", "0.5",
                 "--out", str(out), "--unit", "node", "--unit-name", "lesion"])
    assert code == 0, capsys.readouterr().err
    page = _page(out)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "table-s1" not in page.tables and len(page.tables["table3"][0]) == 9  # node-level, with LRs
    frame = pd.read_csv(cohort)
    n_test = int((frame["split"] == "test").sum())
    assert f"<b>{len(frame)}</b>lesions in the manifest" in html and f"on {n_test} lesions (" in html
    assert "nodes in the manifest" not in html and "malignant lesions" in html
    assert "treated as independent" in html
    # no absolute path of this machine on the page; run.json's paths resolve from the output folder
    for path in (Path(cohort).resolve(), Path(predictions).resolve()):
        assert str(path) not in html and str(path.parent) not in html
    import json

    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert not Path(record["manifest"]).is_absolute()
    assert (out / record["manifest"]).resolve() == Path(cohort).resolve()
    assert record["unit_of_analysis"]["clustered"] is False
    assert (out / record["index_tests"][0]["source"]).resolve() == Path(predictions).resolve()


def test_models_checkpoints_and_youden_oof(cohort, tmp_path, capsys):
    run = tmp_path / "run"
    train(cohort, run, TrainConfig(fold=0, epochs=2, width=0.25, image_size=64, batch_size=8, seed=1), progress=False)
    out = tmp_path / "page"
    code = main(["compare", "--manifest", str(cohort), "--model", str(run / "fold_0" / "best.pt"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Y-Net (segmentation + classification)" in html and "out-of-fold" in html
    assert "fig-dice" in html and "fig-examples" in html


def test_page_without_reports_says_so(cohort, predictions, tmp_path, capsys):
    frame = pd.read_csv(cohort).drop(columns=["report_text"])
    manifest = Path(cohort).parent / "no_reports.csv"
    frame.to_csv(manifest, index=False)
    out = tmp_path / "page"
    assert main(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                 "--out", str(out)]) == 0
    page = _page(out)
    assert any(a.get("id") == "no-reports" for _, a in page.tags)
    assert len(page.tables["table3"]) == 2  # header + the one model


@pytest.mark.parametrize("problem", ["other_manifest", "no_id_column", "one_class"])
def test_bad_input_exit_2_and_no_partial_page(cohort, predictions, tmp_path, capsys, problem):
    argv = ["compare", "--manifest", str(cohort), "--threshold", "0.5", "--out", str(tmp_path / "page")]
    if problem == "other_manifest":
        other = tmp_path / "other.csv"
        pd.DataFrame({"ln_id": ["zz1", "zz2"], "prob_malignant": [0.2, 0.9]}).to_csv(other, index=False)
        argv += ["--predictions", str(other)]
    elif problem == "no_id_column":
        reports = tmp_path / "reports.csv"
        pd.DataFrame({"who": ["a"], "label": ["benign"]}).to_csv(reports, index=False)
        argv += ["--predictions", str(predictions), "--reports", str(reports)]
    else:
        frame = pd.read_csv(cohort)
        frame = frame[(frame["split"] == "train") | (frame["label"] == "benign")]
        single = tmp_path / "single.csv"
        frame.to_csv(single, index=False)
        argv[2] = str(single)
        argv += ["--predictions", str(predictions)]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("benchmark compare: error:")
    assert not (tmp_path / "page").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".compare-")]


def test_page_paths_are_relative_or_shortened(tmp_path):
    from reportmine.compare.page import relative_text, shown_path

    out = tmp_path / "reports" / "demo"
    out.mkdir(parents=True)
    manifest = tmp_path / "cohort" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("x", encoding="utf-8")
    assert shown_path(manifest, out) == "../../cohort/manifest.csv"
    assert relative_text(f"splits ({manifest})", out) == "splits (../../cohort/manifest.csv)"
    # a path sharing only the filesystem root with the output (a temporary run folder): last parts
    here = Path(__file__).resolve()
    disjoint = here.parts[1] != out.resolve().parts[1]
    expected = "…/" + "/".join(here.parts[-3:]) if disjoint else os.path.relpath(here, out.resolve())
    assert shown_path(here, out) == Path(expected).as_posix()
    assert relative_text("/no/such/file.csv stays", out) == "/no/such/file.csv stays"


class VisibleText(HTMLParser):
    """The text a reader of the page sees (everything but the style sheet)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)

    @classmethod
    def of(cls, out: Path) -> str:
        parser = cls()
        parser.feed((out / "index.html").read_text(encoding="utf-8"))
        return " ".join(" ".join(parser.parts).split())


def _table_header(page: Tables, table_id: str) -> list[str]:
    return [c["text"] for c in page.tables[table_id][0]]


def test_reference_standard_from_label_source_and_reference_option(cohort, predictions, tmp_path, capsys):
    """DDTI's labels are TI-RADS categories (label_source = tirads): the page names that
    reference, never pathology; --reference names another."""
    import json

    frame = pd.read_csv(cohort)
    frame["label_source"] = "tirads"
    manifest = Path(cohort).parent / "tirads.csv"
    frame.to_csv(manifest, index=False)
    out = tmp_path / "page"
    assert main(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    text = VisibleText.of(out)
    assert "pathology" not in text.lower()
    assert "against the reference standard (TI-RADS category)" in text
    assert "Diagnostic performance against TI-RADS category" in text
    assert "Cross-tabulation of each index test against TI-RADS category" in text
    assert "columns: TI-RADS category" in text
    page = _page(out)
    assert _table_header(page, "errors")[2] == "TI-RADS category"
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["reference_standard"] == "TI-RADS category"

    out = tmp_path / "biopsy"
    assert main(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                 "--out", str(out), "--reference", "biopsy"]) == 0, capsys.readouterr().err
    text = VisibleText.of(out)
    assert "pathology" not in text.lower() and "TI-RADS category" not in text  # (reports say "TI-RADS 5")
    assert "against the reference standard (biopsy)" in text and "Diagnostic performance against biopsy" in text
    assert _table_header(_page(out), "errors")[2] == "biopsy"
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["reference_standard"] == "biopsy"


def test_reference_standard_defaults_to_pathology_when_label_sources_differ(cohort):
    from reportmine.compare.run import _reference
    from ynet.data import read_manifest

    frame = pd.read_csv(cohort)
    test_ids = frame.loc[frame["split"] == "test", "ln_id"].astype(str).tolist()
    frame["label_source"] = "tirads"
    frame.loc[frame["ln_id"].astype(str) == test_ids[0], "label_source"] = "cytology"
    manifest = Path(cohort).parent / "mixed_label_source.csv"
    frame.to_csv(manifest, index=False)
    listed = read_manifest(manifest)
    assert _reference(listed, test_ids, None) == "pathology"  # the scored rows disagree
    assert _reference(listed, test_ids[1:], None) == "TI-RADS category"
    assert _reference(listed, test_ids[:1], None) == "cytology"  # any other value as written
    assert _reference(listed, test_ids, "  core  biopsy ") == "core biopsy"
    assert _reference(read_manifest(cohort), test_ids, None) == "pathology"  # no label_source column


@pytest.mark.parametrize("case", ["patients", "no_patient_ids", "patients_and_duplicates"])
def test_clusters_are_named_for_what_they_are(cohort, predictions, tmp_path, capsys, case):
    """BUSI has no patient ids: its clusters are groups of near-duplicate images, and the page
    says so; repeated patient ids stay patients; duplicates across patients join them."""
    import json
    import shutil

    frame = pd.read_csv(cohort)
    test = frame[frame["split"] == "test"]
    root = Path(cohort).parent
    if case != "patients":
        # two benign test images of different patients become one image twice
        first = test[test["label"] == "benign"].iloc[0]
        twin = test[(test["label"] == "benign") & (test["patient_id"] != first["patient_id"])].iloc[0]
        copy = Path(first["image"]).with_name(f"copy_of_{Path(first['image']).name}")
        shutil.copyfile(root / first["image"], root / copy)
        frame.loc[frame["ln_id"] == twin["ln_id"], "image"] = copy.as_posix()
    if case == "no_patient_ids":
        frame = frame.drop(columns=["patient_id"])
    manifest = root / f"clusters_{case}.csv"
    frame.to_csv(manifest, index=False)
    out = tmp_path / "page"
    assert main(["compare", "--manifest", str(manifest), "--predictions", str(predictions), "--threshold", "0.5",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    text = VisibleText.of(out)
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    unit = record["unit_of_analysis"]
    assert unit["clustered"] is True
    n_test = len(test)
    if case == "patients":
        n = test["patient_id"].nunique()
        assert unit["cluster_name"] == "patient" and unit["cluster_name_plural"] == "patients"
        assert f"{n_test} nodes from {n} patients, patients as clusters" in text
        assert f"clustered by patient ({n_test} nodes from {n} patients)" in text
        assert "near-duplicate group" not in text and "groups of near-duplicate images" not in text
    elif case == "no_patient_ids":
        n = n_test - 1
        assert unit["cluster_name"] == "group of near-duplicate images" and unit["patients"] == n
        assert "patients" not in text.lower()
        assert f"{n_test} nodes from {n} groups of near-duplicate images, groups of near-duplicate images as " \
               "clusters" in text
        assert "clustered by group of near-duplicate images" in text
        assert f"{n} groups of near-duplicate images in the split" in text
        assert "several nodes share a group of near-duplicate images" in text
        sheet = pd.read_excel(out / "tables.xlsx", sheet_name="table3_accuracy")
        assert "patients" not in sheet.columns and set(sheet["groups of near-duplicate images"]) == {n}
        flow = pd.read_excel(out / "tables.xlsx", sheet_name="flow")
        assert not flow["step"].str.contains("patient").any()
    else:
        n = test["patient_id"].nunique() - 1
        assert unit["cluster_name_plural"] == "patients or near-duplicate groups"
        assert f"{n_test} nodes from {n} patients or near-duplicate groups" in text
        assert "several nodes share a patient or near-duplicate group" in text
