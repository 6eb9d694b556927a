"""The cohort manifest: one row per lymph node, validated with errors naming file, row and column.

Manifest (CSV or XLSX, read by :mod:`reportmine.core.tables`): ``ln_id`` (or ``id``),
``patient_id``, ``image``, ``mask`` (optional; several files joined with ``;`` are unioned),
``label`` (benign | malignant, 0 | 1, or another word spelling of :mod:`reportmine.core.labels`
such as negative | positive; the one-character "-", "+", "b", "m" are refused as ambiguous),
``split`` (optional: train | test), ``split_group`` (optional: rows sharing it never
straddle splits), optional metadata. Paths are relative to the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reportmine.core.errors import InputError
from reportmine.core.labels import CLASS_NAMES, label_index
from reportmine.core.provenance import file_sha256
from reportmine.core.tables import read_table

from .images import DataError

LABEL_NAMES = CLASS_NAMES


@dataclass(frozen=True)
class Node:
    id: str
    row: int  # 1-based data row in the manifest file (header is row 1)
    patient_id: str
    group: str
    image: Path
    masks: tuple[Path, ...]
    label: int | None
    split: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    path: Path
    sha256: str
    nodes: tuple[Node, ...]
    excluded: int  # rows dropped by the label filter

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def labels(self) -> np.ndarray:
        return np.array([n.label for n in self.nodes])


ID_COLUMNS = ("ln_id", "id")
# one-character spellings the statistics accept for a test's calls, refused as a gold standard
SYMBOL_SPELLINGS = frozenset({"+", "-", "m", "b"})
META_SKIP = {"ln_id", "id", "patient_id", "image", "mask", "label", "split", "split_group"}


def read_manifest(path: str | Path, *, exclude_labels: Sequence[str] = (), require_labels: bool = True,
                  require_masks: bool = False) -> Manifest:
    """Read and validate a cohort manifest (errors name the file, row and column)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: manifest not found")
    try:
        frame = read_table(path).fillna("")  # strings; the index is the row a spreadsheet shows
    except InputError as exc:
        raise DataError(str(exc)) from exc
    columns = set(frame.columns)
    id_col = next((c for c in ID_COLUMNS if c in columns), None)
    if id_col is None or "image" not in columns:
        raise DataError(f"{path}: needs columns ln_id (or id) and image; has {', '.join(frame.columns)}")
    if require_labels and "label" not in columns:
        raise DataError(f"{path}: no label column (benign | malignant)")
    if require_masks and "mask" not in columns:
        raise DataError(f"{path}: no mask column")
    excluded_set = {x.strip().lower() for x in exclude_labels}
    nodes, excluded, seen = [], 0, {}
    root = path.parent
    for row, rec in zip(frame.index, frame.to_dict("records")):
        where = f"{path}: row {row}"
        node_id = rec[id_col].strip()
        if not node_id:
            raise DataError(f"{where}: empty {id_col}")
        if node_id in seen:
            raise DataError(f"{where}: duplicate {id_col} {node_id!r} (first on row {seen[node_id]})")
        seen[node_id] = row
        raw_label = rec.get("label", "").strip().lower()
        if raw_label in excluded_set:
            excluded += 1
            continue
        label = None
        if raw_label or require_labels:
            if raw_label in SYMBOL_SPELLINGS:  # "-" often means "not done": never read a gold label from it
                raise DataError(f"{where}, column label: {rec.get('label', '')!r} is ambiguous in a reference "
                                "standard; write benign or malignant (or 0 / 1), and leave out nodes without one")
            label = label_index(raw_label)
            if label is None:
                raise DataError(f"{where}, column label: {rec.get('label', '')!r} is not benign or malignant"
                                + (" (exclude other classes with --exclude-label)" if raw_label else ""))
        image = rec["image"].strip()
        if not image:
            raise DataError(f"{where}, column image: empty")
        masks = tuple(root / m.strip() for m in rec.get("mask", "").split(";") if m.strip())
        if require_masks and not masks:
            raise DataError(f"{where}, column mask: empty")
        patient = rec.get("patient_id", "").strip()
        group = rec.get("split_group", "").strip() or patient or node_id
        split = rec.get("split", "").strip().lower()
        if split and split not in ("train", "test", "val", "validation"):
            raise DataError(f"{where}, column split: {split!r} is not train or test")
        meta = {k: str(v) for k, v in rec.items() if k not in META_SKIP}
        nodes.append(Node(node_id, row, patient, group, root / image, masks, label, split, meta))
    if not nodes:
        raise DataError(f"{path}: no rows to use" + (f" ({excluded} excluded by label)" if excluded else ""))
    return Manifest(path, file_sha256(path), tuple(nodes), excluded)
