"""Train/test split and cross-validation folds: stratified by label, grouped by patient.

Nodes of one group (``split_group``, else ``patient_id``, else the node itself) never
straddle the test set and the training set, nor two folds. A manifest's own ``split``
column wins over the drawn test set. The assignment is written to ``splits.csv`` in the
run folder and reused; a run folder made for another manifest is an error, never a silent
re-split.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from reportmine.core.outputs import atomic_path, read_own_csv, write_csv, write_text_atomic

from .images import DataError
from .manifest import Manifest
from .runs import SPLITS, SPLITS_HASH


def assign_splits(manifest: Manifest, *, folds: int = 5, test_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """One row per node: id, group, label, split (train | test), fold (0…folds−1; −1 for test)."""
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    ids = [n.id for n in manifest.nodes]
    groups = np.array([n.group for n in manifest.nodes])
    labels = np.array([n.label for n in manifest.nodes])
    given = [n.split for n in manifest.nodes]
    split = np.array(["train"] * len(ids), dtype=object)
    if any(s == "test" for s in given):
        split[[i for i, s in enumerate(given) if s == "test"]] = "test"
    elif test_fraction > 0:
        n_parts = max(2, int(round(1 / test_fraction)))
        if len(set(groups)) < n_parts:
            raise DataError(f"{manifest.path}: {len(set(groups))} patient(s) (groups); drawing a "
                            f"{test_fraction:.0%} test part needs at least {n_parts} (add rows, or give a split column)")
        sgkf = StratifiedGroupKFold(n_splits=n_parts, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # "least populated class" is said in the summary, not as a warning
            warnings.simplefilter("ignore", UserWarning)
            _, test_idx = next(sgkf.split(np.zeros(len(ids)), labels, groups))
        split[test_idx] = "test"
    fold = np.full(len(ids), -1)
    train_idx = np.flatnonzero(split == "train")
    if len(set(groups[train_idx])) < folds:
        raise DataError(f"{manifest.path}: only {len(set(groups[train_idx]))} patient(s) (groups) in the training "
                        f"part for {folds}-fold cross-validation (add rows, or use fewer --folds)")
    sgkf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parts = list(sgkf.split(np.zeros(len(train_idx)), labels[train_idx], groups[train_idx]))
    for k, (_, val) in enumerate(parts):
        fold[train_idx[val]] = k
    # a group split between a manifest's train and test rows would leak
    leaked = set(groups[split == "test"]) & set(groups[split == "train"])
    if leaked:
        raise DataError(f"{manifest.path}: group(s) {sorted(leaked)[:3]} have rows in both train and test")
    return pd.DataFrame({"id": ids, "group": groups, "label": labels, "split": split, "fold": fold})


def nested_cv_assignment(manifest: Manifest, folds: int, seed: int) -> pd.DataFrame:
    """Cross-validation over the whole cohort with an inner validation part: one row per node
    with id, group, label, fold (outer) and, per outer fold k, ``role_k`` (inner ``train`` |
    inner ``val`` | ``test``). Outer folds are stratified by label and grouped; the inner
    validation part is 1 group-stratified part in ``max(2, folds − 1)`` of the rest."""
    labels = np.array([n.label for n in manifest.nodes])
    groups = np.array([n.group for n in manifest.nodes])
    n_groups = len(set(groups))
    if n_groups < 2 * folds:
        raise DataError(f"{manifest.path}: {n_groups} groups are too few for {folds} outer folds with an inner "
                        "validation part")
    outer = np.full(len(labels), -1)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        outer[test] = k
    table = pd.DataFrame({"id": [n.id for n in manifest.nodes], "group": groups, "label": labels, "fold": outer})
    for k in range(folds):
        rest = np.flatnonzero(outer != k)
        inner = StratifiedGroupKFold(n_splits=max(2, folds - 1), shuffle=True, random_state=seed + 1 + k)
        _, val = next(inner.split(np.zeros(len(rest)), labels[rest], groups[rest]))
        role = np.full(len(labels), "test", dtype=object)
        role[rest] = "train"
        role[rest[val]] = "val"
        table[f"role_{k}"] = role
    return table


def load_or_assign(manifest: Manifest, run_dir: Path, *, folds: int, test_fraction: float, seed: int,
                   write: bool = True) -> pd.DataFrame:
    """The saved assignment if the run folder has one for this manifest, else a new one (saved
    unless ``write`` is false: under torchrun only rank 0 writes; the draw is deterministic)."""
    path = run_dir / SPLITS
    meta = run_dir / SPLITS_HASH
    if path.exists():
        saved_hash = meta.read_text().strip() if meta.exists() else ""
        if saved_hash != manifest.sha256:
            raise DataError(f"{path}: made for another manifest (sha256 {saved_hash[:12]}…, now "
                            f"{manifest.sha256[:12]}…); use a new --out folder")
        table = read_own_csv(path, dtype={"id": str, "group": str})
        if set(table["id"]) != {n.id for n in manifest.nodes} or table["fold"].max() + 1 != folds:
            raise DataError(f"{path}: does not match this manifest's rows or --folds {folds}; use a new --out folder")
        return table
    table = assign_splits(manifest, folds=folds, test_fraction=test_fraction, seed=seed)
    if not write:
        return table
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # ids are data: formula-escaped, read back by read_own_csv
        write_csv(tmp, table)
    write_text_atomic(meta, manifest.sha256 + "\n")
    return table
