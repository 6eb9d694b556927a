"""The hostile-input suite (issue 10): every command over generated hostile inputs.

For each case (tests/hostile_cases.py): the exit status, no traceback, a one-line error
naming the problem, nothing written on failure (nor temporary files, here or in $TMPDIR),
nothing written outside the declared output, every input byte-identical afterwards, and
the heavy cases under an address-space limit. ``python -m tests.hostile_summary`` prints the
same suite's counts.
"""

from collections import Counter

import hostile_cases
import pytest

CASES = hostile_cases.cases()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return hostile_cases.prepare_suite(tmp_path_factory.mktemp("hostile"),
                                       with_model=any(c.needs_model for c in CASES))


def test_the_suite_is_broad_enough():
    assert len(CASES) >= 120
    assert len({c.name for c in CASES}) == len(CASES)
    tools = Counter(c.tool for c in CASES)
    assert all(tools[t] >= 10 for t in ("reportmine", "benchmark")), tools
    failures = [c for c in CASES if c.expect != 0]
    assert len(failures) >= 80 and any(c.memory_mb for c in CASES)
    covered = {c.finding for c in CASES if c.finding}
    assert {1, 4, 5, 6, 7, 10} <= covered, covered
    # issue 25's classes, generated for every declared command (tests/hostile_classes.py)
    kinds = Counter(c.kind for c in CASES)
    for kind, at_least in (("special file", 40), ("symlinked output", 15), ("forged marker", 20),
                           ("user folder", 10), ("full disk", 9), ("signal", 10), ("decoder bomb", 8),
                           ("injection", 4), ("terminal escape", 3)):
        assert kinds[kind] >= at_least, (kind, kinds[kind])
    assert any(c.disk.startswith("fsize:") for c in CASES)  # the kernel-refused write runs everywhere
    assert any(c.signal == "kill" and c.retry is not None for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, suite):
    world, pristine, tmpdir = suite
    outcome = hostile_cases.run_case(case, world, pristine, tmpdir)
    assert outcome.ok, "; ".join(outcome.problems) + f"\nstderr: {outcome.stderr[-2000:]}"
    assert not outcome.crashed and not outcome.half_written and not outcome.inputs_modified
