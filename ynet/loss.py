"""Joint loss: cross-entropy for the mask plus cross-entropy for the class, summed.

The paper (Eq. 1) sums the two losses with equal weight; the weights are configurable and
an optional soft Dice term can be added to the segmentation part. Pixels (or whole images)
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
    def __init__(self, seg_weight: float = 1.0, cls_weight: float = 1.0, dice_weight: float = 0.0) -> None:
        super().__init__()
        self.seg_weight, self.cls_weight, self.dice_weight = seg_weight, cls_weight, dice_weight

    def forward(self, seg_logits: torch.Tensor | None, cls_logits: torch.Tensor, masks: torch.Tensor,
                labels: torch.Tensor) -> LossParts:
        zero = cls_logits.sum() * 0.0
        cls = F.cross_entropy(cls_logits.float(), labels, ignore_index=-1) if (labels >= 0).any() else zero
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
