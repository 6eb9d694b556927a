"""Accuracy of the report classifier on hand-labeled report files.

    python -m reportmine.benchmarks.evaluate tests/data/dev_examples.csv \
        tests/data/real_usdata_thyroid_labeled.csv

Each file needs `text` and `label` columns (labels malignant / benign / indeterminate;
rows labeled otherwise, e.g. not_applicable, are left out and counted). Prints the
confusion matrix, per-class recall, and every error with the classifier's reason.

A challenge file (`tests/data/challenge_en.csv`, `challenge_zh.csv`) also has a `mechanism`
column, and optionally `term` and `status` (affirmed / negated / possible) for the assertion
engine on its own (:func:`reportmine.assertion`); for it the accuracy is printed per
mechanism, for the report label and for the term status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from reportmine.mining.classify import LABELS, ReportClassifier


def predict_labeled(frame: pd.DataFrame, classifier: ReportClassifier | None = None) -> pd.DataFrame:
    """The labeled rows with the classifier's label, rule and reason added."""
    classifier = classifier or ReportClassifier()
    rows = frame[frame["label"].isin(LABELS)].copy()
    results = [classifier.classify(text) for text in rows["text"]]
    rows["predicted"] = [r.label for r in results]
    rows["rule"] = [r.rule for r in results]
    rows["reason"] = [r.reason for r in results]
    return rows


def report(path: Path, classifier: ReportClassifier) -> str:
    frame = pd.read_csv(path)
    rows = predict_labeled(frame, classifier)
    confusion = pd.crosstab(rows["label"], rows["predicted"], rownames=["reference"], colnames=["predicted"])
    confusion = confusion.reindex(index=list(LABELS), columns=list(LABELS), fill_value=0)
    accuracy = (rows["label"] == rows["predicted"]).mean()
    lines = [f"== {path}  ({len(rows)} labeled rows, {len(frame) - len(rows)} left out)",
             f"3-class accuracy: {accuracy:.3f}", confusion.to_string(), "recall:"]
    for label in LABELS:
        n = int((rows["label"] == label).sum())
        hit = int(((rows["label"] == label) & (rows["predicted"] == label)).sum())
        lines.append(f"  {label:<14}{hit:>4}/{n:<4} {hit / n if n else float('nan'):.3f}")
    errors = rows[rows["label"] != rows["predicted"]]
    lines.append(f"errors ({len(errors)}):")
    for _, row in errors.iterrows():
        ident = row.get("id", "")
        lines.append(f"  {ident}: reference {row['label']}, predicted {row['predicted']} "
                     f"({row['rule']}: {row['reason']})")
        lines.append(f"      {row['text']}")
    return "\n".join(lines)


def _assertion():
    try:
        from reportmine.mining.assertion import assertion
    except ImportError:  # an older checkout without the engine on its own
        return None
    return assertion


def report_challenge(path: Path, classifier: ReportClassifier) -> str:
    """Accuracy per mechanism: report labels by the classifier, term statuses by the engine."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    labeled = frame[frame["label"].isin(LABELS)]
    predicted = {i: classifier.classify(t) for i, t in zip(labeled.index, labeled["text"])}
    assess = _assertion()
    with_term = frame[frame["term"] != ""] if "term" in frame else frame.iloc[:0]
    statuses = {i: assess(t, term) for i, t, term in zip(with_term.index, with_term["text"],
                                                         with_term["term"])} if assess else {}
    lines = [f"== {path}  ({len(labeled)} report labels, {len(with_term)} term statuses)",
             f"{'mechanism':<22}{'labels':>12}{'':>7}{'statuses':>12}"]
    errors = []
    totals = [0, 0, 0, 0]
    for mechanism, rows in frame.groupby("mechanism", sort=False):
        hit = n = s_hit = s_n = 0
        for i, row in rows.iterrows():
            if i in predicted:
                n += 1
                ok = predicted[i].label == row["label"]
                hit += ok
                if not ok:
                    errors.append(f"  {row['id']} [{mechanism}] label {row['label']}, got {predicted[i].label} "
                                  f"({predicted[i].rule}: {predicted[i].reason})\n      {row['text']}")
            if i in statuses:
                s_n += 1
                ok = statuses[i].status == row["status"]
                s_hit += ok
                if not ok:
                    errors.append(f"  {row['id']} [{mechanism}] {row['term']!r} {row['status']}, got "
                                  f"{statuses[i].status} (cue {statuses[i].cue!r})\n      {row['text']}")
        totals = [totals[0] + hit, totals[1] + n, totals[2] + s_hit, totals[3] + s_n]
        lines.append(f"{mechanism:<22}{_fraction(hit, n)}{_fraction(s_hit, s_n) if assess else '   (no engine)'}")
    lines.append(f"{'all':<22}{_fraction(totals[0], totals[1])}{_fraction(totals[2], totals[3])}")
    lines.append(f"errors ({len(errors)}):")
    lines.extend(errors)
    return "\n".join(lines)


def _fraction(hit: int, n: int) -> str:
    return f"{hit:>6}/{n:<4} {hit / n:.3f}" if n else f"{'-':>6}{'':<11}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    classifier = ReportClassifier()
    for path in args.files:
        columns = pd.read_csv(path, nrows=0).columns
        print(report_challenge(path, classifier) if "mechanism" in columns else report(path, classifier))
    return 0


if __name__ == "__main__":
    sys.exit(main())
