"""AUC with its DeLong CI against scikit-learn's roc_auc_score alone, in the same run.

    python -m reportmine.benchmarks.stats_speed [--out reports/benchmarks/auc_delong.md]

Times are the median of several repeats; the ratio (ours / sklearn) is what to read:
absolute times drift from run to run on a shared machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score

from reportmine.stats import auc_delong


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(sizes=(1_000, 10_000, 100_000, 1_000_000), seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        y = rng.integers(0, 2, n)
        s = rng.normal(y * 0.8, 1.0)
        repeats = 7 if n <= 100_000 else 5
        ours = _median_time(lambda: auc_delong(y, s), repeats)  # noqa: B023
        peer = _median_time(lambda: roc_auc_score(y, s), repeats)  # noqa: B023
        r = auc_delong(y, s)
        rows.append({"n": n, "ours_s": ours, "sklearn_s": peer, "ratio": ours / peer,
                     "auc_diff": abs(r.auc - roc_auc_score(y, s))})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| n | AUC + DeLong CI (reportmine) | AUC only (sklearn roc_auc_score) | ratio | abs AUC difference |",
             "|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['ours_s'] * 1e3:.2f} ms | {r['sklearn_s'] * 1e3:.2f} ms | "
                     f"{r['ratio']:.2f}× | {r['auc_diff']:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run(seed=args.seed)
    text = table(rows)
    header = (f"# AUC + DeLong CI vs scikit-learn's AUC alone\n\nMedian of 5–7 repeats, same process, "
              f"seed {args.seed}; {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
              f"numpy {np.__version__}, scikit-learn {sklearn.__version__}. "
              "Scores are continuous normal draws (no ties).\n\n")
    print(text)
    if args.out:
        args.out.write_text(header + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
