"""Dictionary loading and validation: every problem names its file and line."""

import csv

import pytest

from reportmine.cli import main
from reportmine.mining.dictionary import (
    CATEGORIES,
    DictionaryError,
    check_dictionary,
    default_dictionary_dir,
    load_dictionary,
)

HEADER = ["term", "category", "language", "match", "min_score", "case_sensitive", "note"]


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_shipped_dictionary_is_clean_and_complete():
    assert check_dictionary() == []
    d = load_dictionary()
    for language in ("en", "zh"):
        categories = {e.category for e in d.for_language(language)}
        assert categories == set(CATEGORIES), set(CATEGORIES) - categories
    # the paper's Table 1 terms are all there
    terms = {e.term for e in d.entries}
    for term in ("lymphadenopathy", "abnormal lymph node", "metastasis", "CA", "Ca", "suspicious calcification",
                 "suspicious necrosis", "normal lymph node", "reactive hyperplasia", "normal structure",
                 "转移", "异常淋巴结", "反应性增生", "结构正常"):
        assert term in terms, term
    # abbreviations never fuzz
    for e in d.entries:
        if e.term in ("CA", "Ca", "LN", "LAP", "PTC"):
            assert e.match == "exact" and e.case_sensitive


def test_default_dictionary_dir_has_both_languages():
    files = {p.name for p in default_dictionary_dir().glob("*.csv")}
    assert {"en.csv", "zh.csv"} <= files


@pytest.mark.parametrize("rows,message", [
    ([["metastasis", "malignant", "en", "exact", "", "no", ""]], "unknown category"),
    ([["x", "node_anchor", "fr", "exact", "", "no", ""]], "unknown language"),
    ([["metastasis", "malignant_finding", "en", "fuzzy", "", "no", ""]], "needs a min_score"),
    ([["node", "node_anchor", "en", "exact", "", "no", ""],
      ["Node", "node_anchor", "en", "exact", "", "no", ""]], "duplicate"),
    ([["reactive", "benign_finding", "en", "exact", "", "no", ""],
      ["reactive", "malignant_finding", "en", "exact", "", "no", ""]], "conflicts"),
    ([["mets", "malignant_finding", "en", "fuzzy", "85", "no", ""]], "too short to fuzz"),
    ([["转移灶", "malignant_finding", "zh", "fuzzy", "80", "no", ""]], "too short to fuzz"),
    ([["metastasis", "malignant_finding", "en", "exact", "", "maybe", ""]], "case_sensitive"),
])
def test_check_reports_problem_with_file_and_line(tmp_path, rows, message):
    path = _write(tmp_path / "mine.csv", rows)
    problems = check_dictionary(path)
    assert problems, "expected a problem"
    text = str(problems[0])
    assert message in text
    assert text.startswith("mine.csv:") and text.split(":")[1].isdigit()
    with pytest.raises(DictionaryError, match="mine.csv:"):
        load_dictionary(path)


def test_cli_check_exit_codes(tmp_path, capsys):
    assert main(["dictionary", "check"]) == 0
    bad = _write(tmp_path / "bad.csv", [["mets", "malignant_finding", "en", "fuzzy", "85", "no", ""]])
    assert main(["dictionary", "check", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "bad.csv:2" in out


def test_cli_show_filters(capsys):
    assert main(["dictionary", "show", "--lang", "en", "--category", "hedge_equivocal"]) == 0
    out = capsys.readouterr().out
    assert "cannot be excluded" in out and "不除外" not in out


def test_user_dictionary_is_used(tmp_path):
    from reportmine.mining.classify import ReportClassifier

    path = _write(tmp_path / "tiny.csv", [
        ["glandular node", "node_anchor", "en", "exact", "", "no", ""],
        ["spooky", "malignant_finding", "en", "exact", "", "no", ""],
    ])
    clf = ReportClassifier(dictionary=path)
    assert clf.classify("glandular node looks spooky").label == "malignant"
    assert clf.classify("Right level III node with metastasis").label == "indeterminate"
