"""`reportmine review`: the page's markup contract, escaping, gold comparison, and the
corrections that `classify --overrides` and `benchmark compare --report-overrides` apply."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from reportmine.cli import main
from reportmine.core.errors import InputError
from reportmine.review import read_overrides

HOSTILE = 'Level III node <script>alert("x")</script>" onload="steal() </mark> metastatic.'
REPORTS = [
    ("A1", "Right level III lymph node with cystic change, suspicious for metastasis.", "malignant"),
    ("A2", "No abnormal cervical lymph nodes. Level II nodes with preserved fatty hilum.", "benign"),
    ("A3", "Left level IV node, metastasis cannot be excluded.", "malignant"),
    ("A4", "Right thyroid lobe nodule with microcalcifications. Neck: no change in the level II node, "
           "normal hilum.", "benign"),
    ("A5", "No enlarged lymph nodes, but a round level VI node is seen.", "benign"),
    ("A6", HOSTILE, "malignant"),
    ("A7", '=HYPERLINK("http://x") level II node, reactive.', "benign"),
    ("A8", "右侧颈部III区淋巴结，皮髓质分界不清，考虑转移。", "malignant"),
    ("A9", "左侧颈部未见明显肿大淋巴结。", "benign"),
    ("-A10", "", ""),
]


class ReviewParser(HTMLParser):
    """Reports (attributes, text of the report paragraph, marks with their offsets) and every tag."""

    def __init__(self):
        super().__init__()
        self.reports: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[dict] = []
        self._report = None
        self._in_text = False
        self._open: list[dict] = []
        self._script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "article" and "data-id" in attrs:
            self._report = {"attrs": attrs, "text": "", "marks": [], "spans": []}
            self.reports.append(self._report)
        elif tag == "p" and self._report is not None and attrs.get("class") == "tx":
            self._in_text = True
        elif self._in_text and tag in ("mark", "span"):
            item = {"tag": tag, "attrs": attrs, "start": len(self._report["text"])}
            self._open.append(item)
            (self._report["marks"] if tag == "mark" else self._report["spans"]).append(item)
        elif tag == "script":
            self._script = {"attrs": attrs, "text": ""}
            self.scripts.append(self._script)

    def handle_endtag(self, tag):
        if self._in_text and tag in ("mark", "span"):
            item = self._open.pop()
            assert item["tag"] == tag, "marks must nest"
            item["end"] = len(self._report["text"])
        elif tag == "p" and self._in_text:
            assert not self._open
            self._in_text = False
        elif tag == "article":
            self._report = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._in_text:
            self._report["text"] += data
        if self._script is not None:
            self._script["text"] += data


def _parse(path: Path) -> ReviewParser:
    parser = ReviewParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def reports_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "reports.csv"
    pd.DataFrame({"id": [r[0] for r in REPORTS], "report_text": [r[1] for r in REPORTS],
                  "gold": [r[2] for r in REPORTS]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def classified(reports_file, tmp_path_factory):
    """The classify output as CSV (+ .evidence.csv) with the gold column, and as .xlsx."""
    folder = tmp_path_factory.mktemp("classified")
    csv_out, xlsx_out = folder / "out.csv", folder / "out.xlsx"
    assert main(["classify", str(reports_file), "--out", str(csv_out), "--quiet"]) == 0
    assert main(["classify", str(reports_file), "--out", str(xlsx_out), "--quiet"]) == 0
    results = pd.read_csv(csv_out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(results["gold"]) == [r[2] for r in REPORTS]  # classify keeps the input's gold column
    return csv_out, xlsx_out


def _table(path: Path, sheet: str | None = None) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False)


def _unescape(value: str) -> str:
    return value[1:] if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r" else value


@pytest.fixture(scope="module")
def page_csv(classified, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "review.html"
    assert main(["review", str(classified[0]), "--gold-col", "gold", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_one_element_per_report_with_its_attributes(classified, tmp_path, kind):
    source = classified[0] if kind == "csv" else classified[1]
    out = tmp_path / "page.html"
    assert main(["review", str(source), "--out", str(out)]) == 0
    results = _table(source, "results")
    parsed = _parse(out)
    assert [r["attrs"]["data-id"] for r in parsed.reports] == [_unescape(i) for i in results["id"]]
    assert [r["attrs"]["data-label"] for r in parsed.reports] == list(results["label"])
    assert [r["attrs"]["data-rule"] for r in parsed.reports] == list(results["rule"])
    assert all("data-gold" not in r["attrs"] for r in parsed.reports)
    # the page shows each report's text exactly (escaping undone by the parser, nothing added)
    assert [r["text"] for r in parsed.reports] == [_unescape(t) for t in results["text"]]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_every_evidence_row_is_a_mark_at_its_text(classified, tmp_path, kind):
    source = classified[0] if kind == "csv" else classified[1]
    out = tmp_path / "page.html"
    assert main(["review", str(source), "--out", str(out)]) == 0
    evidence = (_table(source.with_suffix(".evidence.csv")) if kind == "csv" else _table(source, "evidence"))
    assert len(evidence) >= 12
    by_id = {r["attrs"]["data-id"]: r for r in _parse(out).reports}
    for number, ev in enumerate(evidence.to_dict("records"), start=2):
        report = by_id[_unescape(ev["id"])]
        marks = [m for m in report["marks"] if m["attrs"].get("data-ev") == str(number)]
        assert marks, f"evidence row {number} has no mark"
        assert all(m["attrs"]["data-category"] == ev["category"] for m in marks)
        assert (marks[0]["start"], marks[-1]["end"]) == (int(ev["start"]), int(ev["end"]))
        assert report["text"][marks[0]["start"]:marks[-1]["end"]] == _unescape(ev["matched_text"])


def test_hostile_text_stays_text(page_csv):
    parsed = _parse(page_csv)
    hostile = next(r for r in parsed.reports if r["attrs"]["data-id"] == "A6")
    assert hostile["text"] == HOSTILE
    assert len(parsed.scripts) == 2  # the JSON block and the page's own script, nothing from a report
    assert all("onload" not in attrs for _, attrs in parsed.tags)
    assert not [t for t, _ in parsed.tags if t in ("img", "link", "iframe", "object")]
    html = page_csv.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "</mark> metastatic" not in html
    meta = next(s for s in parsed.scripts if s["attrs"].get("type") == "application/json")
    assert "<" not in meta["text"]
    assert json.loads(meta["text"])["n_reports"] == len(REPORTS)


def test_self_contained(page_csv):
    html = page_csv.read_text(encoding="utf-8")
    for needle in ("http://", "https://", "src=", "@import", "url("):
        assert needle not in html.replace('=HYPERLINK(&#34;http://x&#34;)', "").replace(
            '=HYPERLINK(&quot;http://x&quot;)', ""), needle


def test_cues_are_marked_with_their_scope(page_csv):
    by_id = {r["attrs"]["data-id"]: r for r in _parse(page_csv).reports}

    def cues(report_id, kind):
        r = by_id[report_id]
        return [(r["text"][m["start"]:m["end"]], m["attrs"]) for m in r["marks"]
                if m["attrs"].get("data-cue") == kind]

    (word, attrs), = [c for c in cues("A2", "negation") if c[0] == "No"]
    lo, hi = map(int, attrs["data-span"].split("-"))
    assert by_id["A2"]["text"][lo:hi] == "No abnormal"  # the cue covers the finding it negates
    (word, _), = cues("A4", "pseudo")
    assert word.startswith("no change")  # "no change (in)": a pseudo-negation, negates nothing
    assert [w for w, _ in cues("A5", "terminator")] == ["but"]
    (word, attrs), = cues("A3", "hedge")
    assert word == "cannot be excluded"
    lo, hi = map(int, attrs["data-span"].split("-"))
    assert "Left level IV node" in by_id["A3"]["text"][lo:hi]  # an equivocal hedge covers its statement
    assert all(a.get("tabindex") == "0" and a.get("title") for r in by_id.values() for a in
               (m["attrs"] for m in r["marks"] if "data-cue" in m["attrs"]))
    # the deciding statement is highlighted
    decide = [s for s in by_id["A1"]["spans"] if "decide" in s["attrs"].get("class", "")]
    assert len(decide) == 1 and by_id["A1"]["text"][decide[0]["start"]:decide[0]["end"]].startswith("Right level III")


def test_gold_confusion_matrix_and_disagreements(classified, page_csv):
    results = _table(classified[0])
    parsed = _parse(page_csv)
    gold = {r["attrs"]["data-id"]: r["attrs"].get("data-gold") for r in parsed.reports}
    expected_gold = {_unescape(i): (g or None) for i, g in zip(results["id"], results["gold"])}
    assert gold == expected_gold
    labelled = results[results["gold"] != ""]
    expected = pd.crosstab(labelled["gold"], labelled["label_3class"])
    cells = {(a["data-gold"], a["data-machine"]) for t, a in parsed.tags if t == "td" and "data-machine" in a}
    assert len(cells) == 6
    html_cells = _cells(page_csv)
    for (g, m), n in html_cells.items():
        want = int(expected.at[g, m]) if g in expected.index and m in expected.columns else 0
        assert n == want, (g, m)
    wrong = labelled[labelled["gold"] != labelled["label_3class"]]
    assert len(wrong) >= 1  # A3: gold malignant, machine indeterminate
    links = [a["href"] for t, a in parsed.tags if t == "a" and a.get("data-goto")]
    dom = {r["attrs"]["data-id"]: r["attrs"]["id"] for r in parsed.reports}
    assert links == ["#" + dom[_unescape(i)] for i in wrong["id"]]
    for i in wrong["id"]:
        article = next(r for r in parsed.reports if r["attrs"]["data-id"] == _unescape(i))
        assert "gold" in article["attrs"]["data-review"].split()


def _cells(path: Path) -> dict[tuple[str, str], int]:
    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self._key = {}, None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            self._key = (a["data-gold"], a["data-machine"]) if tag == "td" and "data-machine" in a else None

        def handle_data(self, data):
            if self._key:
                self.cells[self._key] = int(data)
                self._key = None

    parser = Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.cells


def test_needs_review_reasons(page_csv):
    reasons = {r["attrs"]["data-id"]: set(r["attrs"]["data-review"].split()) for r in _parse(page_csv).reports}
    assert {"hedged", "indeterminate", "gold"} <= reasons["A3"]  # cannot be excluded
    assert "indeterminate" in reasons["-A10"]  # empty report
    assert "hedged" not in reasons["A1"]  # cystic change decides, not only "suspicious for"
    assert reasons["A9"] == set()


def test_limit_and_bad_input(classified, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["review", str(classified[0]), "--limit", "3", "--out", str(out)]) == 0
    assert len(_parse(out).reports) == 3
    assert main(["review", str(classified[0]), "--gold-col", "nope", "--out", str(tmp_path / "x.html")]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    assert main(["review", str(classified[0]), "--gold-col", "text", "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "row 2, column text" in err and "\n" not in err.strip()
    assert main(["review", str(classified[0]), "--out", str(classified[0])]) == 2
    broken = tmp_path / "broken.csv"
    results = _table(classified[0])
    results.to_csv(broken, index=False)
    evidence = _table(classified[0].with_suffix(".evidence.csv"))
    evidence.loc[1, "start"] = "x"
    evidence.to_csv(broken.with_suffix(".evidence.csv"), index=False)
    assert main(["review", str(broken), "--out", str(tmp_path / "y.html")]) == 2
    assert "row 3, column start" in capsys.readouterr().err
    lone = tmp_path / "lone.csv"
    results.to_csv(lone, index=False)
    assert main(["review", str(lone), "--out", str(tmp_path / "y.html")]) == 2
    assert "lone.evidence.csv" in capsys.readouterr().err
    assert not (tmp_path / "y.html").exists()


# ------------------------------------------------------------------ overrides

def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, where", [
    ("id,label\nA1,maybe\n", "row 2, column label"),
    ("id,label\nA1,benign\nA1,malignant\n", "row 3, column id"),
    ("id,label\n,benign\n", "row 2, column id"),
    ("id,note\nA1,x\n", "no column 'label'"),
    ("id,label\n", "no corrections"),
])
def test_bad_overrides_name_row_and_column(tmp_path, content, where):
    path = _write(tmp_path / "corr.csv", content)
    with pytest.raises(InputError, match=where) as info:
        read_overrides(path)
    assert str(path) in str(info.value)


def test_classify_overrides_change_exactly_those_labels(reports_file, tmp_path, capsys):
    plain, fixed = tmp_path / "plain.csv", tmp_path / "fixed.csv"
    corr = _write(tmp_path / "corr.csv", "id,label,note,reviewer_label_time\n"
                  "A1,benign,\"looks reactive, per Dr X\",2026-11-27T12:00:00Z\n"
                  "A9,benign,agree,2026-11-27T12:01:00Z\n"
                  "'-A10,malignant,,2026-11-27T12:02:00Z\n")
    assert main(["classify", str(reports_file), "--out", str(plain), "--quiet"]) == 0
    assert main(["classify", str(reports_file), "--out", str(fixed), "--quiet", "--overrides", str(corr)]) == 0
    assert "1 confirmed" in capsys.readouterr().out
    a, b = _table(plain), _table(fixed)
    changed = {"A1": "benign", "-A10": "malignant"}
    for i, row in b.iterrows():
        rid = _unescape(row["id"])
        assert row["machine_label"] == a.at[i, "label"]
        assert row["label"] == changed.get(rid, a.at[i, "label"])
        assert row["reviewed"] == ("True" if rid in ("A1", "A9", "-A10") else "False")
        for column in a.columns:
            if column not in ("label", "label_3class"):
                assert row[column] == a.at[i, column], column
    assert b.set_index("id").at["A1", "reviewer_note"] == "looks reactive, per Dr X"
    record = json.loads(fixed.with_suffix(".run.json").read_text(encoding="utf-8"))["overrides"]
    assert record["labels_overridden"] == 2 and record["reviewed"] == 3 and record["confirmed"] == 1


def test_classify_overrides_for_unknown_report_write_nothing(reports_file, tmp_path, capsys):
    corr = _write(tmp_path / "corr.csv", "id,label\nA1,benign\nZZ,benign\n")
    out = tmp_path / "fixed.xlsx"
    assert main(["classify", str(reports_file), "--out", str(out), "--quiet", "--overrides", str(corr)]) == 2
    err = capsys.readouterr().err
    assert "row 3, column id: 'ZZ'" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_workbook_line_breaks_keep_marks_on_their_text(tmp_path):
    """A workbook turns a report's \\r\\n into \\n; the evidence offsets (counted on the
    original) are mapped back, so every mark still sits on its matched text."""
    text = "Neck:\r\n  right level III node\twith cystic change.\r\nNo other abnormal nodes, reactive."
    source = tmp_path / "crlf.csv"
    pd.DataFrame({"id": ["c1"], "report_text": [text]}).to_csv(source, index=False)
    out, page = tmp_path / "crlf.xlsx", tmp_path / "crlf.html"
    assert main(["classify", str(source), "--out", str(out), "--quiet"]) == 0
    assert main(["review", str(out), "--out", str(page)]) == 0
    evidence = _table(out, "evidence")
    report = _parse(page).reports[0]
    assert report["text"] == text.replace("\r\n", "\n")
    assert len(evidence) >= 2
    for number, ev in enumerate(evidence.to_dict("records"), start=2):
        marks = [m for m in report["marks"] if m["attrs"].get("data-ev") == str(number)]
        assert report["text"][marks[0]["start"]:marks[-1]["end"]] == ev["matched_text"].replace("\r\n", "\n")
        assert marks[0]["start"] == int(ev["start"]) - text[:int(ev["start"])].count("\r")


def test_review_of_an_overridden_output_shows_both_labels(reports_file, tmp_path):
    corr = _write(tmp_path / "corr.csv", "id,label\nA1,benign\n")
    out, page = tmp_path / "fixed.csv", tmp_path / "fixed.html"
    assert main(["classify", str(reports_file), "--out", str(out), "--quiet", "--overrides", str(corr)]) == 0
    assert main(["review", str(out), "--out", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    by_id = {r["attrs"]["data-id"]: r for r in _parse(page).reports}
    assert by_id["A1"]["attrs"]["data-label"] == "benign"
    assert "reread" not in by_id["A1"]["attrs"]["data-review"]  # the re-read agrees with the machine
    assert "machine said" in html


def test_hostile_id_and_language_stay_attribute_text(tmp_path):
    hostile_id = 'x" onmouseover="alert(1)'
    source = tmp_path / "ids.csv"
    pd.DataFrame({"id": [hostile_id, "</script><script>alert(2)</script>"],
                  "report_text": ["Level II node, reactive.", "Level III node, metastatic."]}).to_csv(source, index=False)
    out, page = tmp_path / "ids.csv.out.csv", tmp_path / "ids.html"
    assert main(["classify", str(source), "--out", str(out), "--quiet"]) == 0
    assert main(["review", str(out), "--out", str(page)]) == 0
    parsed = _parse(page)
    assert [r["attrs"]["data-id"] for r in parsed.reports] == [hostile_id, "</script><script>alert(2)</script>"]
    assert all("onmouseover" not in attrs for _, attrs in parsed.tags)
    assert len(parsed.scripts) == 2
