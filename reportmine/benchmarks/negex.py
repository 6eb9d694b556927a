"""The NegEx test corpus: our negation engine vs negspaCy and medSpaCy ConText, same run.

    python -m reportmine.benchmarks.negex NEGEX_FOLDER \
        [--peer-python PEER_VENV/bin/python] [--out reports/benchmarks/negex.md] [--no-timing]

The corpus (2,376 concept–sentence pairs from 120 clinical reports, annotated Affirmed /
Negated; see its PROVENANCE.md) is read from the path given, never copied. Each system gets
the concept's span in its sentence as the target:

* ``reportmine context``: :class:`reportmine.mining.assertion.AssertionEngine` (shipped English
  dictionary; "possible" counts as not negated, as the corpus has only two classes);
* negspaCy 1.0.4 (``en_clinical`` termset) and medSpaCy 1.3.1 ConText (default rules, spaCy
  sentencizer), run by ``negex_peer.py`` in a venv of their own (``--peer-python``);
* the full report classifier (:class:`reportmine.mining.classify.ReportClassifier`) on the same
  sentences, for its speed only: distinct texts with empty memos (cold) and the same texts
  again (warm).

Prints accuracy, precision / recall / F1 of Negated, docs/s (unless ``--no-timing``), and
our remaining errors grouped by kind. Timings mean something only on a quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reportmine.core.errors import InputError
from reportmine.core.outputs import write_json_atomic, write_text_atomic
from reportmine.core.provenance import file_sha256, run_record
from reportmine.mining.assertion import AssertionEngine, find_term, sentence_bounds

CORPUS_FILE = "Annotations-1-120.txt"
DEFAULT_PEER = "none"  # the peers need a venv of their own: give its python with --peer-python


@dataclass(frozen=True)
class Pair:
    report: str
    concept: str
    sentence: str
    negated: bool  # gold


@dataclass(frozen=True)
class Scores:
    system: str
    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    docs_per_s: float | None = None

    def row(self, timing: bool) -> str:
        speed = f" {self.docs_per_s:,.0f} |" if timing and self.docs_per_s else (" – |" if timing else "")
        return (f"| {self.system} | {self.n} | {self.accuracy:.3f} | {self.precision:.3f} | {self.recall:.3f} "
                f"| {self.f1:.3f} |{speed}")


def read_corpus(path: str | Path) -> tuple[Path, list[Pair]]:
    path = Path(path)
    file = path / CORPUS_FILE if path.is_dir() else path
    if not file.exists():
        raise InputError(f"{file}: NegEx corpus not found (pass the folder holding {CORPUS_FILE})")
    pairs = []
    with open(file, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quotechar='"')
        for number, row in enumerate(reader, start=2):
            gold = (row.get("Negation") or "").strip()
            if gold not in ("Affirmed", "Negated"):
                raise InputError(f"{file}: row {number}: column Negation: {gold!r} is not Affirmed/Negated")
            pairs.append(Pair(row["Report No."], row["Concept"], row["Sentence"], gold == "Negated"))
    return file, pairs


def score(system: str, gold: list[bool], predicted: list[bool], seconds: float | None) -> Scores:
    tp = sum(g and p for g, p in zip(gold, predicted))
    fp = sum(p and not g for g, p in zip(gold, predicted))
    fn = sum(g and not p for g, p in zip(gold, predicted))
    correct = sum(g == p for g, p in zip(gold, predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    speed = len(gold) / seconds if seconds else None
    return Scores(system, len(gold), correct / len(gold), precision, recall, f1, speed)


def run_ours(pairs: list[Pair]):
    """Results, seconds and the engine of one cold run (a fresh engine)."""
    engine = AssertionEngine(language="en")  # built before the clock starts
    engine("Warm up: no fever.", "fever")  # first-call set-up of the libraries, not reading
    start = time.perf_counter()
    results = [engine(p.sentence, p.concept) for p in pairs]
    return results, time.perf_counter() - start, engine


def run_classifier(pairs: list[Pair], repeats: int = 1) -> tuple[float, float]:
    """Texts/s of the full classifier on the distinct sentences: cold (fresh memos), then
    warm (the same texts again); the median of ``repeats`` fresh classifiers."""
    from reportmine.mining.classify import ReportClassifier

    texts = list(dict.fromkeys(p.sentence for p in pairs))
    colds, warms = [], []
    for _ in range(repeats):
        classifier = ReportClassifier(language="en")
        classifier.reader("en")  # building the matchers is not reading
        classifier.classify("Warm up: no fever.")  # first-call set-up of the libraries; memos hold only this
        start = time.perf_counter()
        for text in texts:
            classifier.classify(text)
        colds.append(time.perf_counter() - start)
        start = time.perf_counter()
        for text in texts:
            classifier.classify(text)
        warms.append(time.perf_counter() - start)
    cold, warm = statistics.median(colds), statistics.median(warms)
    return len(texts) / cold, len(texts) / warm


def run_peers(pairs: list[Pair], python: str, repeats: int = 1) -> dict:
    rows = []
    for p in pairs:
        span = find_term(p.sentence, p.concept)
        if span is None:  # the concept runs past a truncated sentence: target its first word
            span = find_term(p.sentence, p.concept.split()[0]) or (0, 0)
        rows.append({"sentence": p.sentence, "start": span[0], "end": span[1]})
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "rows.json"
        file.write_text(json.dumps(rows), encoding="utf-8")
        peer = Path(__file__).with_name("negex_peer.py")
        done = subprocess.run([python, str(peer), str(file), str(repeats)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InputError(f"{python}: the peer run failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def error_kinds(pairs: list[Pair], results, matcher) -> list[str]:
    """Our remaining errors, grouped: a negation that should not have reached the concept
    (by its cue), and a missed one (no cue in the sentence / a cue that did not reach)."""
    kinds: dict[str, list[str]] = {}
    for p, r in zip(pairs, results):
        predicted = r.status == "negated"
        if predicted == p.negated:
            continue
        if not r.found:
            kind = "concept not found in its sentence"
        elif predicted:
            kind = f"false negation by \u2018{r.cue.lower()}\u2019"
        else:
            lo, hi = sentence_bounds(p.sentence, r.term_span[0])
            cues = [m for m in matcher.find(p.sentence[lo:hi]) if m.category.startswith("negation")]
            kind = ("missed: a negation cue in the sentence did not reach the concept" if cues
                    else "missed: no negation cue of the dictionary in the sentence")
        kinds.setdefault(kind, []).append(f"{p.concept!r} in \u201c{' '.join(p.sentence.split())[:160]}\u201d")
    lines = []
    for kind, items in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"- {kind}: {len(items)}")
        lines.extend(f"    - {item}" for item in items)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help=f"folder holding {CORPUS_FILE} (or the file itself)")
    parser.add_argument("--peer-python", default=DEFAULT_PEER,
                        help="python of a venv with medspacy 1.3.1 and negspacy 1.0.4 (see negex_peer.py); "
                             "without it, or with 'none', the peers are skipped")
    parser.add_argument("--out", help="write the table as Markdown here (and a .json beside it)")
    parser.add_argument("--no-timing", action="store_true", help="accuracy only; no docs/s")
    parser.add_argument("--limit", type=int, help="first N pairs only (a smoke test)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed rounds, each running every system once, cold; medians are reported "
                             "(default 5)")
    args = parser.parse_args(argv)
    timing = not args.no_timing

    file, pairs = read_corpus(args.corpus)
    if args.limit:
        pairs = pairs[: args.limit]
    gold = [p.negated for p in pairs]
    # Paired rounds: each round times our engine and then the peers, so that a slow spell of
    # the machine falls on both; throughputs are medians over rounds, the ratio is the median
    # of the per-round ratios (with its min–max).
    with_peers = args.peer_python != "none"
    ours, rounds = [], []
    for _ in range(args.repeats if timing else 1):
        results, seconds, engine = run_ours(pairs)
        ours.append(seconds)
        if with_peers:
            rounds.append(run_peers(pairs, args.peer_python, 1))
    table = [score("reportmine context", gold, [r.status == "negated" for r in results], statistics.median(ours))]
    for name in ("negspaCy", "medspaCy ConText") if with_peers else ():
        table.append(score(f"{name} ({rounds[0]['versions'][name.split()[0].lower()]})", gold,
                           rounds[0][name]["negated"], statistics.median([r[name]["seconds"] for r in rounds])))
    head = "| system | pairs | accuracy | Negated P | Negated R | Negated F1 |" + (" docs/s |" if timing else "")
    lines = [f"NegEx test corpus: {Path(file).name} ({len(pairs)} pairs, {sum(gold)} Negated)", "", head,
             "|---" * (7 if timing else 6) + "|", *(s.row(timing) for s in table)]
    record = {"corpus": Path(file).name, "sha256": file_sha256(file), "pairs": len(pairs),
              "scores": [s.__dict__ for s in table]}
    if timing and with_peers:
        ratios = sorted(r["negspaCy"]["seconds"] / o for o, r in zip(ours, rounds))
        lines += ["", f"`reportmine context` / negspaCy throughput: **{statistics.median(ratios):.1f}×** (median of "
                      f"{len(ratios)} paired rounds, min–max {ratios[0]:.1f}–{ratios[-1]:.1f}×; cold: a fresh "
                      "engine, every sentence read once)."]
        record["context_over_negspacy"] = {"median": statistics.median(ratios), "rounds": ratios}
    if timing:
        cold, warm = run_classifier(pairs, args.repeats)
        lines += ["", f"Full report classifier on the {len(set(p.sentence for p in pairs))} distinct sentences: "
                      f"cold (empty memos) {cold:,.0f} texts/s, warm (same texts again) {warm:,.0f} texts/s."]
        record["classifier_texts_per_s"] = {"cold": cold, "warm": warm}
    errors = error_kinds(pairs, results, engine._matchers["en"])
    n_errors = sum(1 for p, r in zip(pairs, results) if (r.status == "negated") != p.negated)
    lines += ["", f"reportmine context errors ({n_errors}), by kind:", *errors]
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        write_text_atomic(out, text + "\n")
        write_json_atomic(out.with_suffix(".json"), run_record({"timing": timing}, {Path(file).name: record["sha256"]})
                          | {"results": record})
    return 0


if __name__ == "__main__":
    sys.exit(main())
