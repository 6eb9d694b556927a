"""Print the hostile-input suite's summary: ``python -m tests.hostile_summary`` (from the checkout).

Runs every case of ``tests/hostile_cases.py`` on freshly generated inputs in a temporary
folder and prints the counts quoted in docs/reliability.md; exits 1 unless
crashes, half-written outputs and modified inputs are all zero.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hostile_cases  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reportmine-hostile-") as root:
        all_cases = hostile_cases.cases()
        world, pristine, tmpdir = hostile_cases.prepare_suite(
            Path(root), with_model=any(c.needs_model for c in all_cases))
        outcomes = []
        for case in all_cases:
            outcomes.append(hostile_cases.run_case(case, world, pristine, tmpdir))
            if "-v" in sys.argv:
                print(f"{case.name}: exit {outcomes[-1].status} {'ok' if outcomes[-1].ok else 'FAILED'}",
                      file=sys.stderr)
    print(hostile_cases.summary(outcomes))
    print(f"  ({time.perf_counter() - started:.0f} s)")
    bad = sum(o.crashed or o.half_written or o.inputs_modified for o in outcomes)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
