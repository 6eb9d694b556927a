"""Clinical English beyond the NegEx corpus: node-status semantics, post-negations, negative
adjectives, exceptions, modifier phrases, relative clauses, double negation, hedges on the cause,
section headers, and ConText's temporality and experiencer (English and Chinese).

The sentences of ``tests/data/challenge_context.csv`` were written before the engine was changed
(tests/data/PROVENANCE.md); each names its mechanism. Rows with a ``term`` check the assertion
engine (status, and temporality / experiencer where given), rows with a ``label`` the classifier.
"""

from pathlib import Path

import pandas as pd
import pytest

import reportmine
from reportmine.mining.assertion import AssertionEngine
from reportmine.mining.batch import classify_frame
from reportmine.mining.classify import ReportClassifier

FRAME = pd.read_csv(Path(__file__).parent / "data" / "challenge_context.csv", dtype=str, keep_default_na=False)
MECHANISMS = list(dict.fromkeys(FRAME["mechanism"]))


@pytest.fixture(scope="module")
def engine():
    return AssertionEngine()


@pytest.fixture(scope="module")
def classifier():
    return ReportClassifier()


def test_every_mechanism_has_cases_in_both_directions():
    assert len(FRAME) >= 120
    for mechanism in MECHANISMS:
        rows = FRAME[FRAME["mechanism"] == mechanism]
        assert len(rows) >= 5, mechanism
    statuses = set(FRAME.loc[FRAME["term"] != "", "status"])
    assert statuses == {"affirmed", "negated", "possible"}
    assert {"recent", "historical", "hypothetical"} <= set(FRAME["temporality"])
    assert {"patient", "other"} <= set(FRAME["experiencer"])


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_mechanism(engine, classifier, mechanism):
    wrong = []
    for row in FRAME[FRAME["mechanism"] == mechanism].itertuples():
        if row.term:
            got = engine(row.text, row.term)
            assert got.found, row.id
            for field, want in (("status", row.status), ("temporality", row.temporality),
                                ("experiencer", row.experiencer)):
                if want and getattr(got, field) != want:
                    wrong.append(f"{row.id}: {row.term!r} {field} {want}, got {getattr(got, field)}: {row.text}")
        if row.label:
            got = classifier.classify(row.text).label
            if got != row.label:
                wrong.append(f"{row.id}: label {row.label}, got {got}: {row.text}")
    assert not wrong, "\n".join(wrong)


def test_assertion_carries_the_properties_and_their_cues():
    result = reportmine.assertion("Status post right neck dissection.", "neck dissection")
    assert (result.status, result.temporality, result.temporality_cue) == ("affirmed", "historical", "Status post")
    assert result.temporality_cue_span == (0, 11)
    result = reportmine.assertion("Her father was diagnosed with papillary thyroid carcinoma.", "thyroid carcinoma")
    assert (result.experiencer, result.experiencer_cue) == ("other", "father")
    assert "experiencer other" in result.summary()
    absent = reportmine.assertion("No cough.", "fever")
    assert (absent.found, absent.temporality, absent.experiencer) == (False, "", "")


def test_node_status_names_the_cue_that_decided():
    result = reportmine.assertion("The cervical lymph nodes are not enlarged.", "lymph nodes")
    assert (result.status, result.cue) == ("negated", "not")
    result = reportmine.assertion("0/14 lymph nodes positive for carcinoma.", "lymph nodes")
    assert (result.status, result.cue, result.cue_span) == ("negated", "0/14", (0, 4))


def test_a_node_word_inside_another_concept_keeps_the_generic_reading(engine):
    # the head of "lymph node biopsy" is the biopsy: "reactive" says nothing of its status
    assert engine("Previous lymph node biopsy showed reactive changes.", "lymph node biopsy").status == "affirmed"


def test_classify_records_why_a_statement_did_not_decide():
    text = ("If a node with microcalcifications appears, fine needle aspiration is recommended. "
            "Mother had metastatic thyroid cancer. Status post left neck dissection for metastatic nodes. "
            "Right level II node with a normal fatty hilum.")
    results, evidence = classify_frame(pd.DataFrame({"id": ["r1"], "report_text": [text]}))
    assert results.loc[0, "label"] == "benign"
    rows = evidence[["matched_text", "scope", "context", "context_cue"]].values.tolist()
    assert rows[:3] == [["microcalcifications", "history", "hypothetical", "If"],
                        ["metastatic", "history", "other", "Mother"],
                        ["metastatic", "history", "historical", "Status post"]]
    assert evidence["polarity"].isna().tolist()[:3] == [True, True, True]  # no polarity: never decides
    assert all(row[1] == "node" and row[2] == "" for row in rows[3:])  # the current node decides


def test_the_review_page_says_why_a_background_finding_does_not_decide():
    from reportmine.review.marks import finding_spans

    text = "Mother had metastatic thyroid cancer."
    results, evidence = classify_frame(pd.DataFrame({"id": ["r1"], "report_text": [text]}))
    rows = [dict(row, row=i) for i, row in enumerate(evidence.fillna("").to_dict("records"))]
    (span,) = finding_spans(text, rows)
    title = dict(span.attrs)["title"]
    assert "about a relative, not the patient: \u2018Mother\u2019, does not decide the label" in title
