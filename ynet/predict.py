"""Prediction: probability of malignancy per image, predicted masks, Dice where a mask exists.

Several checkpoints (e.g. the fold models) are averaged: class probabilities always, mask
probabilities over the models that have a segmentation decoder. Predicted masks are put
back at each image's original resolution before they are written and scored.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from reportmine.core.provenance import file_sha256

from .checkpoint import CheckpointError, load_model
from .data import (
    DataError,
    Node,
    Preprocessing,
    preprocess,
    read_image,
    read_manifest,
    read_mask,
    restore_mask,
    standardise,
)
from .train import resolve_device

log = logging.getLogger(__name__)

COLUMNS = ("ln_id", "image", "label", "prob_malignant", "predicted_label", "dice", "mask_file", "n_models")


@dataclass(frozen=True)
class PredictionSummary:
    n: int
    out: str
    masks_dir: str
    dice_median: float
    n_models: int
    models: tuple[str, ...]

    def summary(self) -> str:
        dice = "" if np.isnan(self.dice_median) else f"; median Dice {self.dice_median:.3f}"
        return (f"{self.n} images scored with {self.n_models} model(s){dice}\n  written: {self.out}"
                + (f", masks in {self.masks_dir}" if self.masks_dir else ""))


def nodes_from_images(paths: Sequence[str | Path]) -> list[Node]:
    return [Node(Path(p).stem, i + 1, "", Path(p).stem, Path(p), (), None, "") for i, p in enumerate(paths)]


def predict(models: Sequence[str | Path], out: str | Path, *, manifest: str | Path | None = None,
            images: Sequence[str | Path] = (), masks_dir: str | Path | None = None, ids: Sequence[str] | None = None,
            batch_size: int = 8, device: str = "auto", exclude_labels: Sequence[str] = (),
            progress: Callable[[int], None] | None = None) -> PredictionSummary:
    """Score the manifest's nodes (or image files) with the averaged checkpoints; write a CSV."""
    if not models:
        raise ValueError("give at least one --model checkpoint")
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
    out = Path(out)
    mask_folder = Path(masks_dir) if masks_dir else None
    if mask_folder is not None:
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
        with torch.no_grad():
            for model, _ in loaded:
                seg, cls = model(x)
                cls_probs.append(cls.float().softmax(1)[:, 1])
                if seg is not None:
                    seg_probs.append(seg.float().softmax(1)[:, 1])
        prob = torch.stack(cls_probs).mean(0).cpu().numpy()
        seg_mean = torch.stack(seg_probs).mean(0).cpu().numpy() if seg_probs else None
        for i, node in enumerate(batch):
            row = {"ln_id": node.id, "image": str(node.image), "label": "" if node.label is None else
                   ("malignant" if node.label == 1 else "benign"), "prob_malignant": float(prob[i]),
                   "predicted_label": "malignant" if prob[i] >= 0.5 else "benign", "dice": float("nan"),
                   "mask_file": "", "n_models": len(loaded)}
            if seg_mean is not None:
                p = prepared[i]
                full = restore_mask(seg_mean[i] >= 0.5, p.box, p.original_shape)
                if refs[i] is not None:
                    from reportmine.stats import dice

                    row["dice"] = dice(full, refs[i], empty="one")
                if mask_folder is not None:
                    target = mask_folder / f"{node.id}.png"
                    Image.fromarray(full.astype(np.uint8) * 255).save(target)
                    row["mask_file"] = str(target)
            rows.append(row)
        if progress is not None:
            progress(len(batch))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=out.parent if out.parent.exists() else None)
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dices = frame["dice"].dropna()
    return PredictionSummary(len(frame), str(out), str(mask_folder or ""),
                             float(dices.median()) if len(dices) else float("nan"), len(loaded),
                             tuple(file_sha256(Path(m)) for m in models))
