"""Accuracy of the report classifier on hand-labeled report files.

    python -m reportmine.benchmarks.evaluate tests/data/dev_examples.csv \
        tests/data/real_usdata_thyroid_labeled.csv

Each file needs `text` and `label` columns (labels malignant / benign / indeterminate;
rows labeled otherwise, e.g. not_applicable, are left out and counted). Prints the
confusion matrix, per-class recall, and every error with the classifier's reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from reportmine.classify import LABELS, ReportClassifier


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    classifier = ReportClassifier()
    for path in args.files:
        print(report(path, classifier))
    return 0


if __name__ == "__main__":
    sys.exit(main())
