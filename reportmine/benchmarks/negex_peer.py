"""negspaCy and medSpaCy ConText on the NegEx corpus; the peer side of negex.py.

    PEER_PYTHON negex_peer.py ROWS.json [REPEATS]

Runs in its own venv (medspacy==1.3.1 negspacy==1.0.4 numpy==1.26.4 pandas==2.2.3, no torch)
and imports nothing of reportmine. ROWS.json is a list of {"sentence", "start", "end"}: the
concept's character span in its sentence, given to each system as its target entity.

* negspaCy 1.0.4: blank English + sentencizer, the ``en_clinical`` termset, the concept set
  as the document's only entity (``doc.ents``), ``ent._.negex``.
* medSpaCy 1.3.1 ConText: blank English + spaCy's sentencizer, ConText with its default
  English rules, the concept set as the only entity, ``ent._.is_negated``.

Prints one JSON object: per system its predictions (True = negated), its seconds on the
corpus (the median of REPEATS runs, default 1, each with a pipeline built afresh beforehand; the entity is set between tokenising and the cue
component, so both run on the same work), and versions.
"""

import json
import sys
import time

import medspacy  # noqa: F401  (registers medspacy_context)
import negspacy
import spacy
from negspacy.negation import Negex  # noqa: F401  (registers the negex factory)
from negspacy.termsets import termset


def _with_target(nlp, rows):
    """Yield docs whose single entity is the concept span (tokens covering the characters)."""
    for row in rows:
        doc = nlp.make_doc(row["sentence"])
        span = doc.char_span(row["start"], row["end"], label="CONCEPT", alignment_mode="expand")
        doc.ents = [span] if span is not None else []
        yield doc


def _run(nlp, component_names, rows):
    components = [nlp.get_pipe(name) for name in component_names]
    out = []
    start = time.perf_counter()
    for doc in _with_target(nlp, rows):
        for component in components:
            doc = component(doc)
        out.append(doc)
    return out, time.perf_counter() - start


def negspacy_predictions(rows):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns(),
                                  "ent_types": ["CONCEPT"]})
    docs, seconds = _run(nlp, ["sentencizer", "negex"], rows)
    return [bool(doc.ents and doc.ents[0]._.negex) for doc in docs], seconds


def medspacy_predictions(rows):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("medspacy_context")
    docs, seconds = _run(nlp, ["sentencizer", "medspacy_context"], rows)
    return [bool(doc.ents and doc.ents[0]._.is_negated) for doc in docs], seconds


def main() -> int:
    rows = json.loads(open(sys.argv[1], encoding="utf-8").read())
    out = {"versions": {"spacy": spacy.__version__, "medspacy": medspacy.__version__,
                        "negspacy": getattr(negspacy, "__version__", "1.0.4")}}
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for name, run in (("negspaCy", negspacy_predictions), ("medspaCy ConText", medspacy_predictions)):
        timed = [run(rows) for _ in range(repeats)]
        seconds = sorted(t[1] for t in timed)[len(timed) // 2]
        out[name] = {"negated": timed[0][0], "seconds": seconds, "repeats": repeats}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
