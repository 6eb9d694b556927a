"""`benchmark`: diagnostic-accuracy calculators (and, later, the model comparison)."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    print("benchmark: not yet implemented", file=sys.stderr)
    return 1
