"""Joint loss: cross-entropy for the mask plus cross-entropy for the class, summed.

The paper (Eq. 1) sums the two losses with equal weight; the weights are configurable, a
soft Dice term can be added to the segmentation part (the trainer adds it with weight
:data:`ynet.limits.DICE_WEIGHT` unless told otherwise), and the classification term
can weight the classes (``class_weights``, e.g. inverse frequency for a class-balanced loss).
A model without a classification head (``cls_logits`` None, a segmentation-only peer) or
without a decoder (``seg_logits`` None) contributes zero for the missing part. Pixels (or whole images)
without a reference mask carry the target -1 and are ignored; images without a label
likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    segmentation: torch.Tensor
    classification: torch.Tensor


class JointLoss(torch.nn.Module):
    def __init__(self, seg_weight: float = 1.0, cls_weight: float = 1.0, dice_weight: float = 0.0,
                 class_weights: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.seg_weight, self.cls_weight, self.dice_weight = seg_weight, cls_weight, dice_weight
        self.register_buffer("class_weights", None if class_weights is None else
                             torch.tensor(class_weights, dtype=torch.float32))

    def forward(self, seg_logits: torch.Tensor | None, cls_logits: torch.Tensor | None, masks: torch.Tensor,
                labels: torch.Tensor) -> LossParts:
        if seg_logits is None and cls_logits is None:
            raise ValueError("the model returned neither mask nor class logits")
        zero = (cls_logits if cls_logits is not None else seg_logits).sum() * 0.0
        cls = zero
        if cls_logits is not None and (labels >= 0).any():
            weight = None if self.class_weights is None else self.class_weights.to(cls_logits.device)
            cls = F.cross_entropy(cls_logits.float(), labels, weight=weight, ignore_index=-1)
        # a batch without masks still touches the decoder (a zero loss), so DistributedDataParallel
        # sees every parameter used in every step
        seg = seg_logits.sum() * 0.0 if seg_logits is not None else zero
        if seg_logits is not None and (masks >= 0).any():
            seg = F.cross_entropy(seg_logits.float(), masks, ignore_index=-1)
            if self.dice_weight:
                seg = seg + self.dice_weight * soft_dice_loss(seg_logits.float(), masks)
        total = self.seg_weight * seg + self.cls_weight * cls
        return LossParts(total, seg.detach(), cls.detach())


def soft_dice_loss(seg_logits: torch.Tensor, masks: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 − soft Dice of the foreground, over images that have a mask."""
    has = (masks >= 0).flatten(1).all(dim=1)
    if not has.any():
        return seg_logits.sum() * 0.0
    prob = seg_logits[has].softmax(dim=1)[:, 1]
    target = masks[has].float()
    inter = (prob * target).flatten(1).sum(1)
    total = prob.flatten(1).sum(1) + target.flatten(1).sum(1)
    return (1 - (2 * inter + eps) / (total + eps)).mean()


def balanced_class_weights(labels) -> tuple[float, float]:
    """Inverse-frequency weights n / (2 n_c) for benign (0) and malignant (1); 1 for an absent class."""
    labels = [int(v) for v in labels if v is not None and int(v) >= 0]
    n = len(labels)
    counts = [labels.count(0), labels.count(1)]
    return tuple(n / (2 * c) if c else 1.0 for c in counts)
