"""reportmine.assertion and `reportmine context`: the negation engine on its own."""

import pandas as pd
import pytest

import reportmine
from reportmine.cli import main
from reportmine.mining.assertion import AssertionEngine, find_term


@pytest.fixture(scope="module")
def engine():
    return AssertionEngine()


@pytest.mark.parametrize("text, term, status, cue", [
    ("Lungs: no wheezes, rales, rhonchi, or crackles.", "crackles", "negated", "no"),
    ("Regular rhythm, no murmurs, rubs, gallops.", "gallops", "negated", "no"),
    ("No infiltrate, but a small pleural effusion is present.", "pleural effusion", "affirmed", ""),
    ("No fever and reports a productive cough.", "productive cough", "affirmed", ""),
    ("Hydronephrosis: not seen.", "hydronephrosis", "negated", "not seen"),
    ("Bowel obstruction, resolved.", "bowel obstruction", "negated", "resolved"),
    ("Patient is in no acute distress.", "no acute distress", "affirmed", ""),  # the cue is the concept's
    ("In general, no change in vision or hearing.", "change in vision", "negated", "no"),
    ("No change in the left lower lobe consolidation.", "consolidation", "affirmed", ""),
    ("Rule out pulmonary embolism.", "pulmonary embolism", "possible", "Rule out"),
    ("Opacity most likely represents atelectasis.", "atelectasis", "possible", "most likely"),
    ("Doppler of the legs negative   for DVT.", "DVT", "negated", "negative   for"),
    ("ALLERGIES: He has no known ALLERGIES.", "allergies", "negated", "no"),
    ("Urine -ve for protein.", "protein", "negated", "-ve for"),
    ("双侧颈部未见肿大淋巴结。", "肿大淋巴结", "negated", "未见"),
    ("右肾见无回声囊肿。", "囊肿", "affirmed", ""),  # 无回声 is an echo word, not a negation
    ("左侧III区淋巴结，不除外转移。", "转移", "possible", "不除外"),
    # LAD (lymphadenopathy) is a node word: node-status semantics apply to it, as to
    # "lymphadenopathy" (a generic concept reads these two "possible" and "affirmed")
    ("Hilar LAD could be reactive or neoplastic.", "LAD", "affirmed", ""),
    ("LAD noted, 0/12 positive.", "LAD", "negated", "0/12"),
    ("Hilar lymphadenopathy could be reactive or neoplastic.", "lymphadenopathy", "affirmed", ""),
    ("Lymphadenopathy noted, 0/12 positive.", "lymphadenopathy", "negated", "0/12"),
])
def test_status_and_cue(engine, text, term, status, cue):
    result = engine(text, term)
    assert (result.status, result.cue) == (status, cue), result.summary()
    assert result.found
    start, end = result.term_span
    assert " ".join(text[start:end].lower().split()) == " ".join(term.lower().split())
    if cue:
        assert text[result.cue_span[0]:result.cue_span[1]] == cue


def test_module_is_callable_and_result_is_frozen():
    result = reportmine.assertion("The patient denies chest pain.", "Chest Pain")
    assert result.status == "negated" and result.cue == "denies"
    assert result.term_span == (19, 29)
    with pytest.raises(AttributeError):
        result.status = "affirmed"
    assert "negated by" in result.summary()


def test_term_not_found():
    result = reportmine.assertion("Normal heart sounds.", "murmur")
    assert not result.found and result.status == "" and "not found" in result.summary()


def test_find_term_whitespace_and_case():
    assert find_term("with STAPH   bacteremia.", "staph bacteremia") == (5, 23)
    assert find_term("x", "  ") is None


def test_find_term_prefers_a_whole_word():
    text = "No abnormal lymph nodes except for a node in level IV."
    assert find_term(text, "node") == (37, 41)  # not the "node" inside "nodes"
    assert find_term("Two lymph nodes.", "node") == (10, 14)  # inside a word only when there is no other
    assert find_term("NODES: none. A node.", "nodes") == (0, 5)  # a header when it is the only whole word
    assert find_term("Node: see below. The node is enlarged.", "node") == (21, 25)  # the header is skipped
    assert find_term("颈部淋巴结肿大。淋巴结", "淋巴结") == (2, 5)  # Chinese has no word boundaries to prefer


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_context_command_csv(tmp_path, capsys):
    src = tmp_path / "pairs.csv"
    pd.DataFrame({"note": ["No fever or cough.", "Cough is present.", "Normal exam."],
                  "concept": ["cough", "cough", "murmur"], "status": ["gold-n", "gold-a", "gold-a"]}
                 ).to_csv(src, index=False)
    code, out, err = _run(capsys, "context", src, "--text-col", "note", "--term-col", "concept", "--quiet")
    assert code == 0, err
    result = pd.read_csv(tmp_path / "pairs.context.csv", dtype=str, keep_default_na=False)
    assert list(result.columns) == ["note", "concept", "input_status", "status", "cue", "cue_span",
                                    "term_span", "found", "temporality", "temporality_cue", "experiencer",
                                    "experiencer_cue"]
    assert list(result["status"]) == ["negated", "affirmed", ""]
    assert list(result["found"]) == ["True", "True", "False"]
    assert list(result["cue_span"]) == ["0:2", "", ""]
    assert list(result["input_status"]) == ["gold-n", "gold-a", "gold-a"]
    assert (tmp_path / "pairs.context.run.json").exists()
    assert "negated          1" in out and "not found in its text: 1" in out


def test_context_command_xlsx_and_bad_column(tmp_path, capsys):
    src = tmp_path / "pairs.xlsx"
    pd.DataFrame({"text": ["未见钙化及液化。"], "term": ["液化"]}).to_excel(src, index=False)
    out = tmp_path / "o.xlsx"
    code, _, err = _run(capsys, "context", src, "--text-col", "text", "--term-col", "term", "--out", out, "--quiet")
    assert code == 0, err
    assert pd.read_excel(out, sheet_name="context")["status"].tolist() == ["negated"]
    code, _, err = _run(capsys, "context", src, "--text-col", "nope", "--term-col", "term", "--quiet",
                        "--out", tmp_path / "p.csv")
    assert code == 2 and "nope" in err and not (tmp_path / "p.csv").exists()
