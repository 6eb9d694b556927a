"""Peak memory of `classify_file` on a large CSV: it streams, so memory does not grow with rows.

    python -m reportmine.benchmarks.stream_memory --rows 1000000 [--workdir /tmp]

Writes a CSV of ROWS reports (cycling the bundled labeled examples with varied numbers),
classifies it to CSV in a child process for each size in a doubling series up to ROWS, and
prints rows, seconds, reports/s and the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from reportmine.benchmarks.classify_speed import build_corpus

CHILD = """
import json, resource, sys, time
from reportmine.mining.batch import classify_file
start = time.perf_counter()
summary = classify_file(sys.argv[1], sys.argv[2])
print(json.dumps({"rows": summary.n_reports, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_csv(path: Path, rows: int, seed: int) -> None:
    base = build_corpus(20_000, seed, None)
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "report_text"])
        for i in range(rows):
            writer.writerow([f"r{i}", base[rng.randrange(len(base))]["text"]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    sizes = []
    n = 62_500
    while n < args.rows:
        sizes.append(n)
        n *= 4
    sizes.append(args.rows)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        print("| rows | seconds | reports/s | peak RSS |\n|---:|---:|---:|---:|")
        for rows in sizes:
            src, out = Path(tmp) / f"in-{rows}.csv", Path(tmp) / f"out-{rows}.csv"
            write_csv(src, rows, args.seed)
            done = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out)], capture_output=True,
                                  text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {r['rows']:,} | {r['seconds']:.0f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_rss_mb']:.0f} MB |")
            src.unlink()
            out.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
