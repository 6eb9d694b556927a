"""Prediction: probability of malignancy per image, predicted masks, Dice where a mask exists.

Several checkpoints (e.g. the fold models) are averaged: class probabilities always, mask
probabilities over the models that have a segmentation decoder. Predicted masks are put
back at each image's original resolution before they are written and scored.
:func:`predict` returns the table; writing it (``ynet predict --out``) is the CLI's job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from reportmine.core.errors import InputError
from reportmine.core.labels import label_name
from reportmine.core.outputs import atomic_path, check_targets, safe_filename
from reportmine.stats import dice

from .checkpoint import CheckpointError, load_model
from .device import resolve_device
from .images import DataError, read_image, read_mask
from .infer import infer
from .manifest import Node, read_manifest
from .preprocess import Preprocessing, preprocess, restore_mask, standardise

log = logging.getLogger(__name__)

COLUMNS = ("ln_id", "image", "label", "prob_malignant", "predicted_label", "dice", "mask_file", "n_models")


@dataclass(frozen=True)
class PredictionSummary:
    n: int
    out: str
    masks_dir: str
    dice_median: float
    n_models: int

    @classmethod
    def of(cls, table: pd.DataFrame, out: str | Path = "", masks_dir: str | Path | None = None) -> PredictionSummary:
        dices = table["dice"].dropna()
        return cls(len(table), str(out), str(masks_dir or ""),
                   float(dices.median()) if len(dices) else float("nan"),
                   int(table["n_models"].iloc[0]) if len(table) else 0)

    def summary(self) -> str:
        dice = "" if np.isnan(self.dice_median) else f"; median Dice {self.dice_median:.3f}"
        return (f"{self.n} images scored with {self.n_models} model(s){dice}"
                + (f"\n  written: {self.out}" if self.out else "")
                + (f", masks in {self.masks_dir}" if self.masks_dir else ""))


def nodes_from_images(paths: Sequence[str | Path]) -> list[Node]:
    return [Node(Path(p).stem, i + 1, "", Path(p).stem, Path(p), (), None, "") for i, p in enumerate(paths)]


def predict(models: Sequence[str | Path], *, manifest: str | Path | None = None,
            images: Sequence[str | Path] = (), masks_dir: str | Path | None = None, ids: Sequence[str] | None = None,
            batch_size: int = 8, device: str = "auto", exclude_labels: Sequence[str] = (), tta: bool = False,
            progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """The manifest's nodes (or image files) scored with the averaged checkpoints: one row per
    node (:data:`COLUMNS`). With ``masks_dir``, the predicted masks are written there as PNGs
    named after the node ids: new files only, never over an input or an existing file (refused
    before anything is scored; ``ynet predict --masks-dir`` stages a folder and can replace its
    own earlier output). ``tta`` averages each image with its horizontal mirror (as the
    benchmark's ``--ynet-tta``)."""
    if not models:
        raise ValueError("give at least one --model checkpoint")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch size must be a whole number ≥ 1, got {batch_size!r}")
    dev = resolve_device(device)
    loaded = [load_model(m, dev) for m in models]
    preps = {tuple(sorted(meta.get("preprocessing", {}).items())) for _, meta in loaded}
    if len(preps) > 1:
        raise CheckpointError("the checkpoints were trained with different preprocessing; score them separately")
    prep = Preprocessing(**loaded[0][1].get("preprocessing", {}))
    if manifest is not None:
        nodes = list(read_manifest(manifest, exclude_labels=exclude_labels, require_labels=False).nodes)
        if ids is not None:
            wanted = set(ids)
            nodes = [n for n in nodes if n.id in wanted]
    else:
        nodes = nodes_from_images(images)
    if not nodes:
        raise DataError("nothing to score (no images, or no manifest rows selected)")
    mask_folder = Path(masks_dir) if masks_dir else None
    mask_files: list[Path] = []  # one per node, in order (ids may repeat; names are made unique)
    if mask_folder is not None:
        used_names: set[str] = set()
        mask_files = [mask_folder / f"{safe_filename(node.id, used_names)}.png" for node in nodes]
        inputs = [*models, *([manifest] if manifest is not None else []),
                  *(p for node in nodes for p in (node.image, *node.masks))]
        check_targets(mask_files, inputs)
        existing = next((p for p in mask_files if p.exists()), None)
        if existing is not None:
            raise InputError(f"{existing}: exists; predicted masks are written to new files only "
                             "(choose an empty --masks-dir)")
        mask_folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for start in range(0, len(nodes), batch_size):
        batch = nodes[start:start + batch_size]
        prepared, refs = [], []
        for node in batch:
            where = f"{node.image} (row {node.row})"
            gray, rgb = read_image(node.image, prep.frame)
            ref = read_mask(node.masks, gray.shape, where) if node.masks else None
            prepared.append(preprocess(gray, rgb, None, prep))
            refs.append(ref)
        x = torch.from_numpy(np.stack([standardise(p.image) for p in prepared]))[:, None].to(dev)
        cls_probs, seg_probs = [], []
        for model, _ in loaded:
            out = infer(model, x, tta=tta)
            cls_probs.append(out.cls_prob)
            if out.seg_prob is not None:
                seg_probs.append(out.seg_prob)
        prob = torch.stack(cls_probs).mean(0).cpu().numpy()
        if not np.isfinite(prob).all():  # a NaN score is an error, never "benign"
            bad = batch[int(np.flatnonzero(~np.isfinite(prob))[0])]
            raise CheckpointError(f"{bad.image} (row {bad.row}): the model gave no finite probability "
                                  "(corrupt or diverged checkpoint)")
        seg_mean = torch.stack(seg_probs).mean(0).cpu().numpy() if seg_probs else None
        for i, node in enumerate(batch):
            row = {"ln_id": node.id, "image": str(node.image), "label": "" if node.label is None else
                   label_name(node.label), "prob_malignant": float(prob[i]),
                   "predicted_label": label_name(prob[i] >= 0.5), "dice": float("nan"),
                   "mask_file": "", "n_models": len(loaded)}
            if seg_mean is not None:
                p = prepared[i]
                full = restore_mask(seg_mean[i] >= 0.5, p.box, p.original_shape)
                if refs[i] is not None:
                    row["dice"] = dice(full, refs[i], empty="one")
                if mask_folder is not None:
                    target = mask_files[start + i]
                    with atomic_path(target) as tmp:
                        Image.fromarray(full.astype(np.uint8) * 255).save(tmp, format="PNG")
                    row["mask_file"] = str(target)
            rows.append(row)
        if progress is not None:
            progress(len(batch))
    return pd.DataFrame(rows, columns=COLUMNS)


def split_ids(splits: str | Path, split: str) -> list[str]:
    """The node ids of ``split`` in a run's splits.csv (one-line errors naming the file)."""
    from reportmine.core.outputs import unescape_frame
    from reportmine.core.tables import read_table

    table = unescape_frame(read_table(splits, columns=["id", "split"]))
    return [str(i) for i in table.loc[table["split"] == split, "id"]]


def predict_to_files(models: Sequence[str | Path], out: str | Path, *, manifest: str | Path | None = None,
                     images: Sequence[str | Path] = (), masks_dir: str | Path | None = None,
                     splits: str | Path | None = None, split: str | None = None, force: bool = False,
                     batch_size: int = 8, device: str = "auto", exclude_labels: Sequence[str] = (),
                     tta: bool = False, progress: Callable[[int], None] | None = None) -> PredictionSummary:
    """``ynet predict``: score, then write the CSV (and the masks) under the output policy.

    No file written may be an input: the CSV is checked against the checkpoints, the
    manifest, the splits file and every image and reference mask; ``masks_dir`` is a
    :class:`~reportmine.core.outputs.FolderOutput` (new or empty, or an earlier
    ``ynet predict`` mask folder with ``force``), so it can hold no input and no foreign
    file. Masks are staged and appear with the CSV only when every image was scored: a bad
    image in the third batch leaves neither masks nor CSV.
    """
    import contextlib

    from reportmine.core.outputs import FolderOutput, atomic_path, check_targets, write_csv

    out = Path(out)
    if split is not None and (splits is None or manifest is None):
        raise InputError("--split needs --manifest and --splits (a run's splits.csv)")
    inputs = [*map(Path, models), *map(Path, images)]
    inputs += [Path(p) for p in (manifest, splits) if p is not None]
    if manifest is not None:
        listed = read_manifest(manifest, exclude_labels=exclude_labels, require_labels=False)
        for node in listed.nodes:
            inputs += [node.image, *node.masks]
    check_targets([out], inputs)
    if out.suffix.lower() != ".csv":
        raise InputError(f"{out}: predictions are written as .csv")
    ids = split_ids(splits, split) if split is not None else None
    folder = FolderOutput(masks_dir, "ynet predict", force=force, inputs=inputs) if masks_dir else None
    if folder is not None and (out.resolve() == folder.path.resolve() or folder.path.resolve() in out.resolve().parents):
        raise InputError(f"{out}: lies inside --masks-dir {masks_dir}; write the CSV elsewhere")
    with atomic_path(out) as csv_tmp:  # renamed last, once the masks are in place
        with folder if folder is not None else contextlib.nullcontext() as stage:
            table = predict(models, manifest=manifest, images=images, masks_dir=stage, ids=ids,
                            batch_size=batch_size, device=device, exclude_labels=exclude_labels, tta=tta,
                            progress=progress)
            if folder is not None:  # the masks' final place, not the staging folder
                table["mask_file"] = [str(Path(masks_dir) / Path(f).name) if f else "" for f in table["mask_file"]]
            write_csv(csv_tmp, table)
    return PredictionSummary.of(table, out, masks_dir)
