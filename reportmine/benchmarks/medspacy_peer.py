"""medSpaCy side of classify_speed.py; runs in its own venv (medspacy==1.3.1, spaCy < 3.8).

    PEER_PYTHON medspacy_peer.py CORPUS.jsonl LABELED.json DICTIONARY_DIR

Standalone on purpose (imports nothing of reportmine). Pipeline at medSpaCy's fastest:
blank spaCy + sentencizer (not PyRuSH) + TargetMatcher + ConText. Targets: the finding
entries of our dictionary (exact phrases; medSpaCy has no fuzzy matching). ConText: its
default English rules; for Chinese (no medSpaCy rules exist) our Chinese cues. The report
label applies our report-level rule to the entities: malignant if an affirmed malignant /
suspicious entity, else indeterminate if an uncertain one or indeterminate features
outnumber benign ones, else benign if any benign or negated entity, else indeterminate.
medSpaCy has no node-vs-thyroid scope, so every entity counts.
"""

import csv
import json
import resource
import sys
import time
from pathlib import Path

import medspacy  # noqa: F401  (registers the pipeline factories)
import spacy
from medspacy.context import ConTextRule
from medspacy.ner import TargetRule

FINDINGS = {"malignant_finding", "enlargement", "suspicious_feature", "benign_finding", "indeterminate_feature", "hilum_present",
            "hilum_absent", "hilum_unclear"}
CUES = {"negation_pre": ("NEGATED_EXISTENCE", "FORWARD"), "negation_post": ("NEGATED_EXISTENCE", "BACKWARD"),
        "hedge_equivocal": ("POSSIBLE_EXISTENCE", "BIDIRECTIONAL"), "pseudo": ("PSEUDO", "PSEUDO"),
        "terminator": ("TERMINATE", "TERMINATE")}
PUNCT = [".", "!", "?", "。", "！", "？", "；", ";"]


def read_entries(folder: Path, language: str):
    for path in sorted(folder.glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["language"] == language:
                    yield row["term"], row["category"]


def build(language: str, folder: Path):
    nlp = spacy.blank(language)
    nlp.add_pipe("sentencizer", config={"punct_chars": PUNCT})
    matcher = nlp.add_pipe("medspacy_target_matcher")
    seen = set()
    rules = []
    for term, category in read_entries(folder, language):
        if category in FINDINGS and (term, category) not in seen:
            seen.add((term, category))
            rules.append(TargetRule(term, category))
    matcher.add(rules)
    if language == "en":
        nlp.add_pipe("medspacy_context")
    else:
        context = nlp.add_pipe("medspacy_context", config={"rules": None})
        cue_rules = [ConTextRule(term, *CUES[category]) for term, category in read_entries(folder, language)
                     if category in CUES]
        context.add(cue_rules)
    return nlp


def label(doc) -> str:
    malignant = equivocal = negated = 0
    benign, indeterminate = set(), set()
    for ent in doc.ents:
        cat = ent.label_
        if ent._.is_negated:
            if cat == "hilum_present":
                indeterminate.add(ent.text.lower())
            else:
                negated += 1
            continue
        if ent._.is_uncertain:
            equivocal += 1
            continue
        if cat in ("malignant_finding", "enlargement", "suspicious_feature"):
            malignant += 1
        elif cat in ("benign_finding", "hilum_present"):
            benign.add(ent.text.lower())
        else:
            indeterminate.add(ent.text.lower())
    if malignant:
        return "malignant"
    if equivocal or len(indeterminate) > len(benign):
        return "indeterminate"
    if benign or negated:
        return "benign"
    return "indeterminate"


def main() -> int:
    corpus_path, labeled_path, folder = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    docs = [json.loads(line) for line in corpus_path.read_text(encoding="utf-8").splitlines()]
    labeled = json.loads(labeled_path.read_text(encoding="utf-8"))
    start = time.perf_counter()
    pipes = {lang: build(lang, folder) for lang in ("en", "zh")}
    setup = time.perf_counter() - start
    out = {"system": f"medSpaCy {medspacy.__version__} (spaCy {spacy.__version__})", "setup_s": setup,
           "languages": {}}
    for lang, nlp in pipes.items():
        texts = [d["text"] for d in docs if d["lang"] == lang]
        start = time.perf_counter()
        for doc in nlp.pipe(texts, batch_size=256):
            label(doc)
        elapsed = time.perf_counter() - start
        out["languages"][lang] = {"docs": len(texts), "seconds": elapsed, "docs_per_s": len(texts) / elapsed}
    out["predictions"] = {}
    for name, rows in labeled.items():
        nlp = pipes["en" if name.endswith("_en") else "zh"]
        out["predictions"][name] = [label(doc) for doc in nlp.pipe(rows["text"])]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
