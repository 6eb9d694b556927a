"""The challenge files: every mechanism of the negation and hedging engine, English and Chinese.

The cases were written before the engine was changed (tests/data/PROVENANCE.md) and are kept
as written; each names the mechanism it exercises. Rows with a `label` check the report
classifier, rows with a `term` check the assertion engine on its own.
"""

from pathlib import Path

import pandas as pd
import pytest

from reportmine.mining.assertion import AssertionEngine
from reportmine.mining.classify import ReportClassifier

DATA = Path(__file__).parent / "data"
FRAMES = {name: pd.read_csv(DATA / f"challenge_{name}.csv", dtype=str, keep_default_na=False)
          for name in ("en", "zh")}
MECHANISMS = [(name, m) for name, frame in FRAMES.items() for m in dict.fromkeys(frame["mechanism"])]


@pytest.fixture(scope="module")
def classifier():
    return ReportClassifier()


@pytest.fixture(scope="module")
def engine():
    return AssertionEngine()


def test_files_are_large_enough():
    for frame in FRAMES.values():
        assert len(frame) >= 150
        assert frame["mechanism"].str.len().gt(0).all()
        assert (frame["label"].ne("") | frame["term"].ne("")).all()


@pytest.mark.parametrize("language, mechanism", MECHANISMS)
def test_mechanism(classifier, engine, language, mechanism):
    frame = FRAMES[language]
    rows = frame[frame["mechanism"] == mechanism]
    wrong = []
    for row in rows.itertuples():
        if row.label:
            got = classifier.classify(row.text).label
            if got != row.label:
                wrong.append(f"{row.id}: label {row.label}, got {got}: {row.text}")
        if row.term:
            got = engine(row.text, row.term).status
            if got != row.status:
                wrong.append(f"{row.id}: {row.term!r} {row.status}, got {got}: {row.text}")
    assert not wrong, "\n".join(wrong)
