"""One label vocabulary and one set of argument checks: every reader of a label (the statistics,
the calculators' file mode, a cohort manifest) accepts the same spellings, and a bad count or
setting is refused with the same words by the library and by the command line."""

import argparse

import numpy as np
import pytest

from reportmine.core.arguments import check_real, check_whole, real, whole
from reportmine.core.labels import (
    INDETERMINATE_WORDS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    LabelError,
    label_codes,
)
from reportmine.stats import TwoByTwo, mcnemar, proportion_ci, two_by_two
from reportmine.stats.calculators import metrics_from_table
from reportmine.stats.roc import as_labels
from ynet.data import DataError, read_manifest
from ynet.manifest import SYMBOL_SPELLINGS

SPELLINGS = sorted(POSITIVE_WORDS) + sorted(NEGATIVE_WORDS)
EXPECTED = [1] * len(POSITIVE_WORDS) + [0] * len(NEGATIVE_WORDS)


def test_every_spelling_codes_the_same_in_every_statistics_reader():
    assert label_codes(SPELLINGS).tolist() == EXPECTED
    assert as_labels(SPELLINGS).tolist() == EXPECTED
    assert label_codes([w.upper() for w in SPELLINGS]).tolist() == EXPECTED  # case does not matter
    gold = EXPECTED
    table = two_by_two(gold, SPELLINGS)  # the calls spelled every way, agreeing with gold
    assert (table.tp, table.fp, table.fn, table.tn) == (len(POSITIVE_WORDS), 0, 0, len(NEGATIVE_WORDS))


def test_indeterminate_only_where_allowed():
    words = sorted(INDETERMINATE_WORDS)
    assert label_codes(words, indeterminate=True).tolist() == [-1] * len(words)
    with pytest.raises(LabelError, match="unrecognised") as caught:
        label_codes(["malignant", "benign", words[0]], "gold")
    assert caught.value.position == 2 and caught.value.value == words[0]
    with pytest.raises(LabelError, match="missing value at position 1"):
        label_codes(["benign", None])
    with pytest.raises(LabelError, match="not 0/1"):
        label_codes(np.array([0, 1, 2]))


def test_a_manifest_accepts_the_same_spellings(tmp_path):
    """Every word spelling; the one-character symbols are refused there (next test)."""
    words = [(w, e) for w, e in zip(SPELLINGS, EXPECTED) if w not in SYMBOL_SPELLINGS]
    assert len(words) == len(SPELLINGS) - len(SYMBOL_SPELLINGS)
    (tmp_path / "manifest.csv").write_text(
        "ln_id,image,label\n" + "".join(f"n{i},img{i}.png,{w}\n" for i, (w, _) in enumerate(words)),
        encoding="utf-8")
    manifest = read_manifest(tmp_path / "manifest.csv")
    assert manifest.labels.tolist() == [e for _, e in words]
    (tmp_path / "bad.csv").write_text("ln_id,image,label\na,a.png,positive\nb,b.png,maybe\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv: row 3, column label: 'maybe' is not benign or malignant"):
        read_manifest(tmp_path / "bad.csv")


def test_a_manifest_workbook_is_read_like_a_csv(tmp_path):
    import pandas as pd

    pd.DataFrame({"ln_id": [1, 2], "image": ["a.png", "b.png"], "label": ["Positive", 0]}).to_excel(
        tmp_path / "manifest.xlsx", index=False)
    manifest = read_manifest(tmp_path / "manifest.xlsx")
    assert [n.id for n in manifest.nodes] == ["1", "2"] and manifest.labels.tolist() == [1, 0]
    assert [n.row for n in manifest.nodes] == [2, 3]


def test_the_calculators_file_mode_accepts_the_same_spellings_and_names_the_cell(tmp_path):
    rows = "".join(f"{w},{w}\n" for w in SPELLINGS)
    (tmp_path / "calls.csv").write_text("gold,test\n" + rows, encoding="utf-8")
    result = metrics_from_table(tmp_path / "calls.csv", "gold", "test")
    table = result.unclustered.table
    assert (table.tp, table.fp, table.fn, table.tn) == (len(POSITIVE_WORDS), 0, 0, len(NEGATIVE_WORDS))
    (tmp_path / "bad.csv").write_text("gold,test\nmalignant,benign\nbenign,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.csv: row 3, column 'test': empty is not 1/0, malignant/benign"):
        metrics_from_table(tmp_path / "bad.csv", "gold", "test")


@pytest.mark.parametrize("bad", [-1, 2.5, True, None, "three"])
def test_one_count_check_for_every_statistic(bad):
    for call in (lambda: TwoByTwo(bad, 1, 1, 1), lambda: mcnemar(bad, 1), lambda: proportion_ci(bad, 10)):
        with pytest.raises((ValueError, TypeError), match="non-negative whole number"):
            call()


def test_library_and_command_line_share_bounds_and_words():
    with pytest.raises(ValueError, match=r"^epochs must be at least 1, got 0$"):
        check_whole("epochs", 0, 1)
    with pytest.raises(argparse.ArgumentTypeError, match=r"^'0' must be at least 1$"):
        whole(1)("0")
    with pytest.raises(ValueError, match=r"^lr must lie in \(0, 10\], got 0.0$"):
        check_real("lr", 0.0, 0, 10, open_low=True)
    with pytest.raises(argparse.ArgumentTypeError, match=r"^'0' must lie in \(0, 10\]$"):
        real(0, 10, open_low=True)("0")
    with pytest.raises(ValueError, match="not a finite number"):
        check_real("width", float("nan"), 0, 4)
    with pytest.raises(ValueError, match="not a whole number"):
        check_whole("folds", 2.0, 2, 100)
    assert check_whole("folds", 5, 2, 100) == 5 and check_real("lr", 1e-3, 0, 10, open_low=True) == 1e-3


@pytest.mark.parametrize("symbol", ["-", "+", "m", "B"])
def test_a_manifest_refuses_one_character_labels_as_a_reference_standard(tmp_path, symbol):
    """'-' in a pathology column often means 'not done': it must not become benign."""
    (tmp_path / "m.csv").write_text(f"ln_id,image,label\na,a.png,benign\nb,b.png,{symbol}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 3, column label: .* ambiguous"):
        read_manifest(tmp_path / "m.csv")
