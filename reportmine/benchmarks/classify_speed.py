"""Throughput, peak memory and accuracy of `reportmine classify` beside medSpaCy.

    python -m reportmine.benchmarks.classify_speed --n 100000 \
        [--peer-python medspacy-venv/bin/python] [--reports-dir REPORTS_FOLDER] \
        [--out reports/benchmarks/classify.md]

The corpus: N reports (half English, half Chinese) built deterministically (seed) from
labeled report texts, every measurement placeholder replaced by a random size and a random
thyroid preamble added, so that reports are distinct while their phrasing repeats as real
exports do. Each system runs in its own process, one after the other, on the same corpus;
peak memory is that process's maximum resident set. medSpaCy (1.3.1, its own venv: it pins
spaCy < 3.8) gets the same target terms (our dictionary's finding categories) and runs at
its fastest: spaCy's sentencizer instead of PyRuSH, then TargetMatcher and ConText (its
default English rules; for Chinese, which it has no rules for, our Chinese cues). Both
systems' 3-class accuracy is measured on the labeled sets with the same report-level rule
applied to medSpaCy's entities (see medspacy_peer.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
TESTS_DATA = HERE.parent.parent / "tests" / "data"

EN_PREAMBLES = [
    "Thyroid: right lobe {a} x {b} mm, left lobe {c} x {d} mm, homogeneous echotexture.",
    "Thyroid: {a} mm solid hypoechoic nodule in the left lobe with microcalcifications, TI-RADS 5.",
    "Thyroid: multinodular goiter, largest nodule {a} x {b} mm, spongiform, TI-RADS 2.",
    "Status post right hemithyroidectomy; left lobe {a} x {b} mm without focal lesion.",
]
ZH_PREAMBLES = [
    "甲状腺右叶大小约{a}×{b}mm，左叶大小约{c}×{d}mm，腺体回声均匀。",
    "甲状腺左叶见一低回声结节，大小约{a}×{b}mm，边界欠清，内见点状强回声，TI-RADS 4类。",
    "甲状腺双叶多发结节，大者约{a}×{b}mm，呈海绵样。",
]
_PLACEHOLDER = re.compile(r"_(2DS|3DS|SCM|SMM|r|Loc|LocR)_")


def _sizes(rng: random.Random) -> dict[str, int]:
    return {k: rng.randint(3, 40) for k in "abcd"}


def _fill(text: str, rng: random.Random) -> str:
    def one(m):
        kind = m.group(1)
        if kind == "2DS":
            return f"{rng.randint(3, 30)}×{rng.randint(2, 20)}mm"
        if kind == "3DS":
            return f"{rng.randint(3, 30)}×{rng.randint(2, 20)}×{rng.randint(2, 20)}mm"
        if kind in ("SCM", "SMM"):
            return f"{rng.randint(1, 30) / 10:.1f}{'cm' if kind == 'SCM' else 'mm'}"
        return f"{rng.randint(1, 12)}点"
    return _PLACEHOLDER.sub(one, text)


def _numbers(text: str, rng: random.Random) -> str:
    return re.sub(r"\d+", lambda m: str(max(1, int(m.group(0)) + rng.randint(-3, 3))), text)


def labeled_sets(reports_dir: Path | None) -> dict[str, pd.DataFrame]:
    dev = pd.read_csv(TESTS_DATA / "dev_examples.csv")
    real = pd.read_csv(TESTS_DATA / "real_usdata_thyroid_labeled.csv")
    return {"dev_en": dev[dev["language"] == "en"], "dev_zh": dev[dev["language"] == "zh"], "real_zh": real}


def build_corpus(n: int, seed: int, reports_dir: Path | None) -> list[dict]:
    rng = random.Random(seed)
    sets = labeled_sets(reports_dir)
    en_base = list(sets["dev_en"]["text"])
    zh_base = list(sets["dev_zh"]["text"]) + list(sets["real_zh"]["text"])
    if reports_dir is not None and (reports_dir / "real_usdata_thyroid.csv").exists():
        zh_base += list(pd.read_csv(reports_dir / "real_usdata_thyroid.csv")["text"])
    corpus = []
    for i in range(n):
        if i % 2 == 0:
            text = rng.choice(EN_PREAMBLES).format(**_sizes(rng)) + " " + _numbers(rng.choice(en_base), rng)
            corpus.append({"id": i, "lang": "en", "text": text})
        else:
            text = _fill(rng.choice(zh_base), rng)
            if rng.random() < 0.5:
                text = rng.choice(ZH_PREAMBLES).format(**_sizes(rng)) + text
            corpus.append({"id": i, "lang": "zh", "text": text})
    return corpus


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def worker(corpus_path: Path, labeled_path: Path) -> dict:
    """Our side, in its own process: throughput per language, peak memory, labeled predictions."""
    from reportmine.mining.classify import ReportClassifier

    docs = [json.loads(line) for line in corpus_path.read_text(encoding="utf-8").splitlines()]
    labeled = json.loads(labeled_path.read_text(encoding="utf-8"))
    start = time.perf_counter()
    clf = ReportClassifier()
    clf.classify("warm up the English matcher: level II node.")
    clf.classify("颈部淋巴结。")
    setup = time.perf_counter() - start
    out = {"system": "reportmine", "setup_s": setup, "languages": {}}
    for lang in ("en", "zh"):
        texts = [d["text"] for d in docs if d["lang"] == lang]
        start = time.perf_counter()
        for text in texts:
            clf.classify(text)
        elapsed = time.perf_counter() - start
        out["languages"][lang] = {"docs": len(texts), "seconds": elapsed, "docs_per_s": len(texts) / elapsed}
    out["predictions"] = {name: [clf.classify(t).label for t in rows["text"]] for name, rows in labeled.items()}
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def jobs_speedup(corpus: list[dict], folder: Path, jobs: tuple[int, ...] = (1, 2),
                 repeats: int = 3) -> list[tuple[int, float]]:
    """Seconds of `reportmine classify --jobs N` on the corpus written as one CSV, each N in
    the same run (a fresh classifier each; reading and writing the files included); the
    settings take turns ``repeats`` times and the median of each is reported."""
    from reportmine.mining.batch import classify_file

    source = folder / "corpus.csv"
    pd.DataFrame({"id": [d["id"] for d in corpus], "text": [d["text"] for d in corpus]}).to_csv(source, index=False)
    seconds: dict[int, list[float]] = {n: [] for n in jobs}
    for _ in range(repeats):
        for n in jobs:
            start = time.perf_counter()
            classify_file(source, folder / f"classified-{n}.csv", jobs=n)
            seconds[n].append(time.perf_counter() - start)
    return [(n, sorted(s)[len(s) // 2]) for n, s in seconds.items()]


def _accuracy(pred: list[str], truth: list[str]) -> tuple[float, dict[str, float]]:
    acc = sum(p == t for p, t in zip(pred, truth)) / len(truth)
    recall = {}
    for label in ("malignant", "benign", "indeterminate"):
        idx = [i for i, t in enumerate(truth) if t == label]
        recall[label] = sum(pred[i] == label for i in idx) / len(idx) if idx else float("nan")
    return acc, recall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--peer-python", help="python of a venv with medspacy==1.3.1 (omit to skip the peer)")
    parser.add_argument("--reports-dir", type=Path, help="shared reports folder (adds real_usdata_thyroid.csv)")
    parser.add_argument("--out", type=Path, help="write the results table (Markdown) here")
    parser.add_argument("--jobs", type=int, nargs="*", metavar="N",
                        help="also time `classify --jobs N` on the corpus as a CSV file, e.g. --jobs 1 2")
    parser.add_argument("--worker", nargs=2, metavar=("CORPUS", "LABELED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]))))
        return 0

    corpus = build_corpus(args.n, args.seed, args.reports_dir)
    sets = labeled_sets(args.reports_dir)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = Path(tmp) / "corpus.jsonl"
        corpus_path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in corpus), encoding="utf-8")
        labeled_path = Path(tmp) / "labeled.json"
        labeled_path.write_text(json.dumps({k: {"text": list(v["text"])} for k, v in sets.items()},
                                           ensure_ascii=False), encoding="utf-8")
        ours = subprocess.run([sys.executable, "-m", "reportmine.benchmarks.classify_speed", "--worker",
                               str(corpus_path), str(labeled_path)], capture_output=True, text=True, check=True)
        results.append(json.loads(ours.stdout.strip().splitlines()[-1]))
        if args.peer_python:
            from reportmine.mining.dictionary import default_dictionary_dir

            peer = subprocess.run([args.peer_python, str(HERE / "medspacy_peer.py"), str(corpus_path),
                                   str(labeled_path), str(default_dictionary_dir())],
                                  capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
            if peer.returncode != 0:
                print(peer.stderr, file=sys.stderr)
                return 1
            results.append(json.loads(peer.stdout.strip().splitlines()[-1]))
        timings = jobs_speedup(corpus, Path(tmp), tuple(args.jobs)) if args.jobs else []

    lines = [f"Corpus: {args.n:,} reports ({args.n // 2 + args.n % 2:,} English, {args.n // 2:,} Chinese), "
             f"seed {args.seed}; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
             "",
             "| system | English docs/s | Chinese docs/s | all docs/s | peak RSS | set-up |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        total_docs = sum(v["docs"] for v in r["languages"].values())
        total_s = sum(v["seconds"] for v in r["languages"].values())
        lines.append(f"| {r['system']} | {r['languages']['en']['docs_per_s']:,.0f} | "
                     f"{r['languages']['zh']['docs_per_s']:,.0f} | {total_docs / total_s:,.0f} | "
                     f"{r['peak_rss_mb']:.0f} MB | {r['setup_s']:.1f} s |")
    if len(results) == 2:
        ours_r, peer_r = results
        for lang in ("en", "zh"):
            ratio = ours_r["languages"][lang]["docs_per_s"] / peer_r["languages"][lang]["docs_per_s"]
            lines.append(f"\nThroughput ratio reportmine / medSpaCy, {lang}: **{ratio:.1f}×**")
    lines += ["", "3-class accuracy on the labeled sets (recall malignant / benign / indeterminate):", "",
              "| system | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for r in results:
        cells = []
        for name, rows in sets.items():
            acc, rec = _accuracy(r["predictions"][name], list(rows["label"]))
            cells.append(f"{acc:.3f} ({rec['malignant']:.2f} / {rec['benign']:.2f} / {rec['indeterminate']:.2f})")
        lines.append(f"| {r['system']} | " + " | ".join(cells) + " |")
    if timings:
        base = timings[0][1]
        lines += ["", f"`reportmine classify --jobs N` on the {args.n:,} reports as one CSV (read, classify, write; median of 3 turns):",
                  "", "| jobs | seconds | reports/s | speed-up |", "|---:|---:|---:|---:|"]
        lines += [f"| {n} | {sec:.1f} | {args.n / sec:,.0f} | {base / sec:.2f}× |" for n, sec in timings]
    text = "\n".join(lines)
    print(text)
    if args.out:
        from reportmine.core.outputs import write_text_atomic

        write_text_atomic(args.out, "# Report classification: reportmine vs medSpaCy\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
