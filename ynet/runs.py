"""The run folder that ``ynet train`` writes: the one place that knows its layout.

::

    RUN/run.json                   what was trained, on which manifest, with which versions
    RUN/splits.csv                 id, group, label, split (train | test), fold
    RUN/splits.sha256              the manifest the splits were drawn for
    RUN/oof_predictions.csv        every trained fold's validation predictions, concatenated
    RUN/fold_K/best.pt             the checkpoint chosen on fold K's validation part
    RUN/fold_K/last.pt             the end of the last finished epoch (for --resume)
    RUN/fold_K/history.csv|.json   per-epoch training and validation metrics
    RUN/fold_K/learning_curves.png
    RUN/fold_K/oof_predictions.csv fold K's validation predictions (ln_id, label, prob_malignant, dice)
    RUN/fold_K/done.json           written when fold K finished

Writers (``ynet.train``) take the paths from :func:`fold_files` and :class:`RunFolder`;
readers (``reportmine.compare``) go through :func:`read_run`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reportmine.core.errors import InputError
from reportmine.core.inputs import read_json_file
from reportmine.core.outputs import read_own_csv

from .images import DataError

RUN_RECORD = "run.json"
SPLITS = "splits.csv"
SPLITS_HASH = "splits.sha256"
OOF = "oof_predictions.csv"
FOLD_PATTERN = re.compile(r"^fold_(\d+)$")


@dataclass(frozen=True)
class FoldFiles:
    """The files of one fold of a run."""

    fold: int
    dir: Path

    @property
    def best(self) -> Path:
        return self.dir / "best.pt"

    @property
    def last(self) -> Path:
        return self.dir / "last.pt"

    @property
    def history_csv(self) -> Path:
        return self.dir / "history.csv"

    @property
    def history_json(self) -> Path:
        return self.dir / "history.json"

    @property
    def curves(self) -> Path:
        return self.dir / "learning_curves.png"

    @property
    def oof(self) -> Path:
        return self.dir / OOF

    @property
    def done(self) -> Path:
        return self.dir / "done.json"


def fold_files(run_dir: str | Path, fold: int) -> FoldFiles:
    return FoldFiles(fold, Path(run_dir) / f"fold_{fold}")


@dataclass(frozen=True)
class RunFolder:
    """What a finished (or partly finished) training run holds."""

    root: Path
    checkpoints: dict[int, Path] = field(default_factory=dict)  # fold → best.pt
    splits: pd.DataFrame | None = None
    oof: pd.DataFrame | None = None
    record: dict | None = None

    @property
    def splits_path(self) -> Path:
        return self.root / SPLITS

    def ids(self, split: str) -> list[str] | None:
        """Node ids of ``split`` (train | test), or None when the run has no splits.csv."""
        if self.splits is None:
            return None
        return list(self.splits.loc[self.splits["split"] == split, "id"])

    def summary(self) -> str:
        folds = ", ".join(str(k) for k in sorted(self.checkpoints)) or "none"
        oof = "no" if self.oof is None else f"{len(self.oof)}"
        return f"run {self.root}: fold checkpoints {folds}; out-of-fold predictions: {oof}"


def run_root(path: str | Path) -> Path:
    """The run folder of ``path``: the folder itself, or the run a fold checkpoint belongs to."""
    path = Path(path)
    if path.is_dir():
        return path
    parent = path.resolve().parent
    return parent.parent if FOLD_PATTERN.match(parent.name) else parent


def read_run(path: str | Path) -> RunFolder:
    """Read a run folder (or the run of a ``fold_K/best.pt`` checkpoint)."""
    root = run_root(path)
    checkpoints = {}
    if root.is_dir():
        for child in root.iterdir():
            match = FOLD_PATTERN.match(child.name)
            if match and (child / "best.pt").exists():
                checkpoints[int(match.group(1))] = child / "best.pt"
    splits = oof = record = None
    try:
        if (root / SPLITS).exists():
            splits = read_own_csv(root / SPLITS, dtype={"id": str, "group": str})
        if (root / OOF).exists():
            oof = read_own_csv(root / OOF, dtype={"ln_id": str})
        if (root / RUN_RECORD).exists():
            record = read_json_file(root / RUN_RECORD, what="run record")
    except InputError as exc:
        raise DataError(str(exc)) from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{root}: unreadable run folder ({type(exc).__name__}: {exc})") from exc
    if splits is not None and not {"id", "split"} <= set(splits.columns):
        raise DataError(f"{root / SPLITS}: needs columns id and split")
    return RunFolder(root, dict(sorted(checkpoints.items())), splits, oof, record)
