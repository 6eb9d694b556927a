"""`ynet`: train and score the Y-Net (not yet implemented in this release)."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    print("ynet: not yet implemented (Y-Net training and prediction land with their own issue)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
