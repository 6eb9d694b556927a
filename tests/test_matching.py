"""Matching mechanisms: Chinese one-character variants, width folding, English tokens."""

import pytest

from reportmine.mining.classify import ReportClassifier
from reportmine.mining.dictionary import DictionaryError, Entry, load_dictionary
from reportmine.mining.matching import ChineseMatcher, EnglishMatcher, normalize


@pytest.fixture(scope="module")
def zh():
    return ChineseMatcher([Entry("淋巴结", "node_anchor", "zh", "variant"), Entry("淋巴门", "node_anchor", "zh"),
                           Entry("淋巴管", "pseudo", "zh"), Entry("下巴", "pseudo", "zh")])


@pytest.mark.parametrize("text, found", [
    ("未见明显肿大琳巴结", "琳巴结"), ("右侧淋八结", "淋八结"), ("临巴结", "临巴结"), ("淋巴节", "淋巴节"),
    ("淋巴结", "淋巴结"),
    ("淋巴管扩张", None), ("下巴结节", None), ("淋巴门", None), ("淋巴,结", None), ("淋巴1结", None),
])
def test_one_character_variants(zh, text, found):
    hits = [m for m in zh.find(text) if m.entry.term == "淋巴结"]
    assert [m.text for m in hits] == ([found] if found else [])
    if found and found != "淋巴结":
        assert hits[0].score < 100  # a variant is reported as such


def test_variant_mode_is_for_chinese_terms_only(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("term,category,language,match,min_score,case_sensitive,note\n"
                    "node,node_anchor,en,variant,,no,\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match="variant"):
        load_dictionary(path)


def test_width_folding_and_offsets_into_the_original():
    norm = normalize("LN（－）", "zh")
    assert norm.text == "LN(-)" and norm.span(2, 5) == (2, 5)
    norm = normalize("ｎｅｇａｔｉｖｅ\u3000for", "en")
    assert norm.text == "negative for" and norm.span(9, 12) == (9, 12)
    # any run of whitespace is one gap between tokens; offsets point into the original text
    matcher = EnglishMatcher([Entry("negative for", "negation_pre", "en")])
    text = "negative   for\nDVT; negative\t\tfor PE"
    assert [(m.start, m.end, m.text) for m in matcher.find(text)] == [(0, 14, "negative   for"),
                                                                       (20, 33, "negative\t\tfor")]


def test_non_ascii_english_keeps_offsets_through_expanding_characters():
    """Ⅲ folds to III (one character to three) and ideographic spaces separate words: every
    span still points at the text as written."""
    matcher = EnglishMatcher([Entry("level III", "neck_region", "en"), Entry("negative for", "negation_pre", "en")])
    text = "Ｌｅｖｅｌ Ⅲ node:\u3000negative\u3000\u3000for  malignancy"
    found = sorted((m.text, m.entry.term) for m in matcher.find(text))
    assert found == [("negative\u3000\u3000for", "negative for"), ("Ｌｅｖｅｌ Ⅲ", "level III")]


@pytest.mark.parametrize("text, found", [
    ("nodes suspicous for metastasis", "suspicous for"),  # a letter dropped inside
    ("nodes uspicious for metastasis", "uspicious for"),  # only the last letter kept
    ("nodes suspicious foo metastasis", "suspicious foo"),  # only the first letter kept
    ("nodes suspİcious for metastasis", "suspİcious for"),  # a non-ASCII letter: İ lower-cases to two characters
    ("a xoo small to characterizx node", None),  # ratio 92, but neither end letter: not one typo
    ("nodes of the neck", None),  # common words of the terms, nothing like a term
    ("node too small tu characterize", "too small tu characterize"),  # a typo in a common word
])
def test_multi_word_fuzzy_terms(text, found):
    matcher = EnglishMatcher([Entry("suspicious for", "hedge_leaning", "en", match="fuzzy", min_score=90),
                              Entry("too small to characterize", "hedge_equivocal", "en", match="fuzzy",
                                    min_score=90)])
    matches = [m.text for m in matcher.find(text)]
    assert matches == ([found] if found else [])


def test_english_tokens_split_signs_and_keep_offsets():
    matcher = EnglishMatcher([Entry("(-)", "negation_post", "en"), Entry("LN", "node_anchor", "en",
                                                                          case_sensitive=True)])
    found = {(m.text, m.start) for m in matcher.find("Neck LN(-) and LN  (-)")}
    assert found == {("LN", 5), ("(-)", 7), ("LN", 15), ("(-)", 19)}


def test_report_language_read_per_clause():
    clf = ReportClassifier()
    result = clf.classify("Right neck unremarkable; 左侧IV区淋巴结 with microcalcification.")
    assert result.label == "malignant"
    assert any(f.match.text == "microcalcification" for f in result.findings)
    assert ReportClassifier(language="zh").classify(
        "Right neck unremarkable; 左侧IV区淋巴结 with microcalcification.").label != "malignant"
