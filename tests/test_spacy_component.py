"""The spaCy pipeline component ``reportmine_context``: registered through the entry point, run
after an EntityRuler in a real pipeline (English and Chinese, one process and two), and giving
the same answers as ``reportmine context`` for the same mentions."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

spacy = pytest.importorskip("spacy", reason="the [spacy] extra is not installed (CI installs it with [test])")

from reportmine.cli import main  # noqa: E402

DATA = Path(__file__).parent / "data" / "challenge_context.csv"
FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


def _pipeline(language: str, terms):
    nlp = spacy.blank(language)
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "CONCEPT", "pattern": term} for term in sorted(set(terms))])
    nlp.add_pipe("reportmine_context")
    return nlp


def _cases(language: str):
    frame = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    frame = frame[(frame["language"] == language) & (frame["term"] != "")]
    # one mention of the concept per sentence, so the entity is the mention the CLI reads
    return frame[[row.text.lower().count(row.term.lower()) == 1 for row in frame.itertuples()]]


def test_the_entry_point_registers_the_factory_without_an_import():
    code = ("import spacy, sys; nlp = spacy.blank('en'); nlp.add_pipe('reportmine_context'); "
            "print(type(nlp.get_pipe('reportmine_context')).__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "reportmine.mining.spacy_component"


def test_neither_the_core_nor_mining_imports_spacy():
    code = ("import sys, reportmine, reportmine.mining.assertion, reportmine.mining.classify, "
            "reportmine.mining.batch, reportmine.cli; print('spacy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_component_agrees_with_the_cli(tmp_path, capsys, language):
    cases = _cases(language)
    assert len(cases) >= 15
    source = tmp_path / "pairs.csv"
    cases[["text", "term"]].to_csv(source, index=False)
    assert main(["context", str(source), "--text-col", "text", "--term-col", "term", "--quiet"]) == 0
    capsys.readouterr()
    cli = pd.read_csv(tmp_path / "pairs.context.csv", dtype=str, keep_default_na=False)
    nlp = _pipeline(language, cases["term"])
    disagree, compared = [], 0
    for doc, row, want in zip(nlp.pipe(cases["text"]), cases.itertuples(), cli.itertuples()):
        ents = [e for e in doc.ents if e.text.lower() == row.term.lower()]
        if not ents:  # another sentence's longer concept took the words (淋巴结肿大 over 淋巴结)
            continue
        compared += 1
        ent = ents[0]
        got = (ent._.context_status, ent._.is_historical, ent._.is_hypothetical, ent._.is_family)
        expected = (want.status, want.temporality == "historical", want.temporality == "hypothetical",
                    want.experiencer == "other")
        if got != expected:
            disagree.append(f"{row.id}: spaCy {got}, CLI {expected}")
        assert ent._.is_negated == (want.status == "negated")
        assert ent._.is_uncertain == (want.status == "possible")
        cue = ent._.context_cue
        assert (cue.text if cue is not None else "") == want.cue
        assert (ent._.experiencer_cue.text if ent._.experiencer_cue is not None else "") == want.experiencer_cue
    assert not disagree, "\n".join(disagree)
    assert compared >= 0.8 * len(cases)
    # the sentences were chosen to exercise every answer
    assert {"affirmed", "negated", "possible"} <= set(cli["status"])


def test_it_runs_in_two_processes_after_an_entity_ruler():
    nlp = _pipeline("en", ["lymphadenopathy", "thyroid cancer", "node", "fever"])
    texts = ["No cervical lymphadenopathy.", "Mother had thyroid cancer.",
             "The right level II node is possibly enlarged.", "Return to clinic if fever occurs."] * 4
    one = [[(e.text, *(e._.get(f) for f in FLAGS)) for e in doc.ents] for doc in nlp.pipe(texts)]
    two = [[(e.text, *(e._.get(f) for f in FLAGS), e._.context_cue.text if e._.context_cue else None)
            for e in doc.ents] for doc in nlp.pipe(texts, n_process=2, batch_size=2)]
    assert [[row[:6] for row in doc] for doc in two] == one
    assert two[0] == [("lymphadenopathy", True, False, False, False, False, "No")]
    assert two[1] == [("thyroid cancer", False, False, False, False, True, None)]
    assert two[2] == [("node", False, True, False, False, False, "possibly")]
    assert two[3] == [("fever", False, False, False, True, False, None)]


def test_chinese_after_an_entity_ruler():
    nlp = _pipeline("zh", ["淋巴结", "甲状腺癌", "淋巴瘤"])
    doc = nlp("双侧颈部淋巴结未见肿大。甲状腺癌术后。家族史：父亲患淋巴瘤。")
    marks = {e.text: (e._.is_negated, e._.is_historical, e._.is_family) for e in doc.ents}
    assert marks == {"淋巴结": (True, False, False), "甲状腺癌": (False, True, False), "淋巴瘤": (False, False, True)}
    node = next(e for e in doc.ents if e.text == "淋巴结")
    assert node._.context_cue.text == "未见"
