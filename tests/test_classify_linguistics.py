"""Each linguistic case of the labeling rule, in English and Chinese."""

import pytest

from reportmine.mining.classify import ReportClassifier, detect_language


@pytest.fixture(scope="module")
def clf():
    return ReportClassifier()


CASES = [
    # (case, text, expected label)
    ("plain metastasis en", "Left level IV lymph node, metastatic.", "malignant"),
    ("plain metastasis zh", "左侧颈部IV区淋巴结转移。", "malignant"),
    ("suspicious feature en", "Right level II node containing punctate echogenic foci.", "malignant"),
    ("suspicious feature zh", "右侧颈部II区淋巴结内见点状强回声。", "malignant"),
    ("pre-negation en", "No cervical lymphadenopathy.", "benign"),
    ("pre-negation zh", "双侧颈部未探及肿大淋巴结。", "benign"),
    ("post-negation en", "Cervical lymph node metastasis is absent.", "benign"),
    ("post-negation zh", "颈部淋巴结转移除外。", "benign"),
    ("negated features en", "Neck nodes: no calcification, no necrosis.", "benign"),
    ("negated features zh", "颈部淋巴结未见钙化及液化。", "benign"),
    ("pseudo-negation en", "Level III node: no change in the metastatic node since last exam.", "malignant"),
    ("pseudo-negation zh", "右侧III区转移性淋巴结，较前无明显变化。", "malignant"),
    ("leaning hedge en", "Left level III node, probably metastatic.", "malignant"),
    ("leaning hedge zh", "左侧III区淋巴结，倾向转移。", "malignant"),
    ("benign lean en", "Small level II nodes, likely reactive.", "benign"),
    ("benign lean zh", "双侧II区淋巴结，反应性增生可能。", "benign"),
    ("equivocal hedge en", "Right level VI node; malignancy cannot be ruled out.", "indeterminate"),
    ("equivocal hedge zh", "右侧VI区淋巴结，性质待定。", "indeterminate"),
    ("benign lean plus cannot exclude en", "Level II node, likely reactive, metastasis cannot be excluded.",
     "indeterminate"),
    ("benign lean plus cannot exclude zh", "左侧II区淋巴结，考虑反应性增生，不能除外转移。", "indeterminate"),
    ("thyroid words never decide en",
     "Thyroid: left lobe nodule with microcalcifications, TI-RADS 5, suspicious for PTC. "
     "Neck: level II nodes with preserved fatty hilum.", "benign"),
    ("thyroid words never decide zh",
     "甲状腺左叶低回声结节，伴微钙化，TI-RADS 5类，可疑癌。颈部：双侧II区淋巴结淋巴门存在。", "benign"),
    ("side-scoped negation en",
     "No abnormal nodes on the left; right level III node with microcalcifications.", "malignant"),
    ("side-scoped negation zh", "左侧颈部未见异常淋巴结；右侧III区淋巴结内见微钙化。", "malignant"),
    ("exception clause en",
     "No cervical lymphadenopathy except a right level IV node with cystic change.", "malignant"),
    ("exception clause zh", "除右侧IV区淋巴结伴囊性变外，余颈部未见肿大淋巴结。", "malignant"),
    ("several nodes mixed en", "Level II nodes are reactive. Level VI node with necrosis.", "malignant"),
    ("several nodes mixed zh", "双侧II区淋巴结结构正常。左侧VI区淋巴结液化坏死。", "malignant"),
    ("indeterminate features only en", "Right level III node, rounded, with cortical thickening.",
     "indeterminate"),
    ("indeterminate features only zh", "右侧III区淋巴结呈类圆形，皮质增厚。", "indeterminate"),
    ("hilum absent only zh", "左侧颈部见一低回声结节，边界清晰，未见淋巴门结构。", "indeterminate"),
    ("hilum absent plus rich flow zh", "左侧颈部见低回声结节，未见淋巴门结构，CDFI示丰富血流信号。", "malignant"),
    ("hilum present plus rich flow zh", "左侧颈部见低回声结节，可见淋巴门结构，CDFI示丰富血流信号。", "benign"),
    ("hilum unclear zh", "右侧颈部见一低回声结节，淋巴门结构显示欠清晰。", "indeterminate"),
    ("no node statement en", "Thyroid: both lobes normal in size.", "indeterminate"),
    ("no node statement zh", "甲状腺大小形态如常，腺体回声均匀。", "indeterminate"),
    ("typo en", "Right level III lymph node with microcalcifcations.", "malignant"),
    ("typo zh (fuzzy 反映性增生)", "右侧颈部II区淋巴结反映性增生。", "benign"),
    ("axillary node is out of scope zh", "右侧腋下见一低回声结节，内见点状强回声。", "indeterminate"),
    ("axillary node is out of scope en", "Right axillary lymph node with cystic change.", "indeterminate"),
    ("follow-up current status en", "Known metastatic node in left level IV, enlarging.", "malignant"),
]


@pytest.mark.parametrize("case,text,expected", CASES, ids=[c[0] for c in CASES])
def test_linguistic_case(clf, case, text, expected):
    result = clf.classify(text)
    assert result.label == expected, result.summary()


def test_abbreviations_are_exact_and_case_sensitive(clf):
    assert clf.classify("Left level VI LN: CA.").label == "malignant"
    # lower-case "ca" is not the abbreviation, and nothing fuzzes towards CA
    result = clf.classify("Left level VI LN: ca.")
    assert result.label == "indeterminate"
    assert not any(f.match.entry.term in ("CA", "Ca") for f in result.findings)
    assert clf.classify("左VI区LN：Ca。").label == "malignant"
    # Latin abbreviations inside a longer word never match (Ca in CDFI, Calcium)
    result = clf.classify("左VI区淋巴结结构正常，CDFI示Calcium正常。")
    assert all(f.match.entry.term != "Ca" for f in result.findings)


def test_fuzzy_evidence_records_score(clf):
    result = clf.classify("Right level III lymph node with microcalcficaitons, suspcious for metastatis.")
    fuzzy = [f for f in result.findings if f.match.score < 100]
    assert fuzzy and all(f.match.entry.match == "fuzzy" for f in fuzzy)
    assert all(f.match.score >= f.match.entry.min_score for f in fuzzy)
    assert result.label == "malignant"


def test_evidence_spans_point_into_original_text(clf):
    text = "双侧颈部扫查，左侧颈部可见多个低回声结节，内可见点状强回声，“淋巴门”结构显示欠满意。"
    result = clf.classify(text)
    assert result.findings
    for f in result.findings:
        assert text[f.match.start:f.match.end] == f.match.text
    hilum = [f for f in result.findings if f.match.category == "hilum_unclear"]
    assert hilum and "淋巴门" in hilum[0].match.text


def test_negation_cue_is_reported(clf):
    result = clf.classify("No abnormal cervical lymph nodes.")
    (finding,) = [f for f in result.findings if f.match.category == "malignant_finding"]
    assert finding.negated and finding.negated_by.text == "No"
    assert result.rule == "R5"


def test_hedge_as_malignant_and_two_class():
    text = "Right level IV node; metastasis cannot be excluded."
    assert ReportClassifier().classify(text).label == "indeterminate"
    assert ReportClassifier(hedge_as="malignant").classify(text).label == "malignant"
    two = ReportClassifier(two_class="benign").classify(text)
    assert two.label == "benign" and two.label_3class == "indeterminate"
    assert "--two-class" in two.reason


def test_target_node_preference():
    clf = ReportClassifier()
    text = "Left level II node, reactive. Right level IV node with microcalcifications."
    assert clf.classify(text).label == "malignant"
    left = clf.classify(text, level="II", side="left")
    assert left.label == "benign" and "target-node" in left.flags and "left II" in left.target
    right = clf.classify(text, level=4, side="R")
    assert right.label == "malignant"
    absent = clf.classify(text, level="VI", side="left")
    assert absent.label == "malignant" and "not named" in absent.target


@pytest.mark.parametrize("text, side", [
    # written after review: a one-letter side word is a side only where it names one
    ("L IV node with microcalcifications.", ""),  # L IV: level IV
    ("R II-III nodes, reactive.", ""),
    ("Enlarged node, r/o metastasis.", ""),  # r/o: rule out
    ("Node in level IV, R/O lymphoma.", ""),
    ("Haemoglobin 10.2 (L), node in level II.", ""),  # (L) after a value: a low result
    ("(L) neck: enlarged level IV node.", "left"),
    ("R neck node with cystic change.", "right"),
    ("L level III node and R level II node.", "bilateral"),
    ("Lt level II node.", "left"),
])
def test_one_letter_side_words(text, side):
    from reportmine.mining import anatomy
    assert anatomy.side(text) == side


def test_empty_and_non_text(clf):
    for value in (None, "", "   ", float("nan"), 42):
        result = clf.classify(value)
        assert result.label == "indeterminate" and result.reason == "empty"


def test_long_text_is_truncated_not_stalled():
    clf = ReportClassifier(max_chars=5000)
    text = "双侧颈部未见明显肿大淋巴结。" + "甲状腺回声均匀。" * 200_000
    result = clf.classify(text)
    assert "truncated" in result.flags and result.label == "benign"


def test_language_detection():
    assert detect_language("双侧颈部LN未见异常。") == "zh"
    assert detect_language("No abnormal LN.") == "en"
    clf = ReportClassifier(language="en")
    assert clf.classify("双侧颈部未见肿大淋巴结。").language == "en"


def test_options_are_validated():
    with pytest.raises(ValueError):
        ReportClassifier(hedge_as="benign")
    with pytest.raises(ValueError):
        ReportClassifier(language="fr")


@pytest.mark.parametrize("text", ["Non-enlarged lymph nodes bilaterally.", "Non-palpable, non-enlarged lymph nodes."])
def test_a_prefixed_word_holds_no_term(clf, text):
    # the word after a negating prefix and its hyphen is no term: "non-enlarged lymph nodes" holds
    # no "enlarged lymph nodes" (the first text read malignant)
    result = clf.classify(text)
    assert result.label != "malignant", result.summary()
    assert not any(f.match.entry.category == "enlargement" for f in result.findings), result.summary()
