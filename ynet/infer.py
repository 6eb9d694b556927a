"""The forward pass as the models are used: softmax probabilities, optionally with flip TTA.

One function for every place that scores images (validation in the trainer, ``ynet
predict``, the benchmark's timing), so that what is timed is what is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Inference:
    """What a model says about a batch: raw logits (for the loss) and probabilities."""

    seg_logits: torch.Tensor | None  # N×2×H×W, float32
    cls_logits: torch.Tensor | None  # N×2, float32
    seg_prob: torch.Tensor | None  # N×H×W: P(node) per pixel (TTA-averaged with ``tta``)
    cls_prob: torch.Tensor | None  # N: P(malignant) (TTA-averaged with ``tta``)


def _float(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.float()


def infer(model: torch.nn.Module, images: torch.Tensor, *, tta: bool = False, amp: bool = False) -> Inference:
    """Run ``model`` on ``images`` (N×1×H×W, on the model's device) without gradients.

    ``tta`` averages the softmax of each image and of its horizontal mirror (the mirrored
    mask flipped back); the logits stay those of the plain image, as in training. ``amp``:
    bfloat16 autocast on CUDA."""
    device = images.device
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
        seg, cls = (_float(t) for t in model(images))
        seg_p = seg.softmax(1)[:, 1] if seg is not None else None
        cls_p = cls.softmax(1)[:, 1] if cls is not None else None
        if tta:
            seg_f, cls_f = (_float(t) for t in model(images.flip(-1)))
            if seg_p is not None:
                seg_p = (seg_p + seg_f.softmax(1)[:, 1].flip(-1)) / 2
            if cls_p is not None:
                cls_p = (cls_p + cls_f.softmax(1)[:, 1]) / 2
    return Inference(seg, cls, seg_p, cls_p)


__all__ = ["Inference", "infer"]
