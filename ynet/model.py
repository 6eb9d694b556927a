"""The Y-Net (Mehta et al. 2018; Zhao et al. §2.5): one encoder, two heads.

    image (1×H×W)
      └ stem ConvBNAct, stride 2 ─────────────────────────────┐ skip (H/2)
         └ EncoderStage 1 (ESP blocks), stride 2 ─────────────┐│ skip (H/4)
            └ EncoderStage 2 (ESP blocks), stride 2 ─────────┐││ skip (H/8)
               └ EncoderStage 3 (ESP blocks), stride 2 = bottleneck (H/16)
                  ├ ClassificationHead → benign/malignant logits
                  └ PyramidPooling (bins 3, 5, 7, 9)
                     └ DecoderStage ×3 (upsample + U-Net skip) → upsample → mask logits (H×W)

Variant "cls-only" drops the segmentation decoder (the paper's second Table 3 row).
Input sides must be divisible by 16 (the network stride); any such size works.

Two options of the seg+cls variant let the classification head read what sonographers read
(both off by default, the paper's network): ``head="mask"`` pools the bottleneck features
inside and around the predicted node as well as over the whole image (mask-guided pooling),
and ``morphology=True`` adds the predicted node's shape (area, long/short-axis ratio,
circularity; :func:`mask_morphology`) to the head's input. The predicted mask is detached
there: the segmentation is learned from the mask loss alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ClassificationHead, ConvBNAct, DecoderStage, EncoderStage, PyramidPooling
from .limits import WIDTH_RANGE

VARIANTS = ("seg+cls", "cls-only")
HEADS = ("global", "mask")
N_MORPHOLOGY = 3
STRIDE = 16


@dataclass(frozen=True)
class YNetConfig:
    variant: str = "seg+cls"
    width: float = 1.0  # multiplies every channel count (small values make tiny test models)
    base_channels: tuple[int, ...] = (16, 32, 64, 128)  # stem, stage 1, 2, 3
    blocks: tuple[int, ...] = (1, 2, 3)  # ESP blocks per encoder stage
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    bins: tuple[int, ...] = (3, 5, 7, 9)
    in_channels: int = 1
    n_classes: int = 2  # benign / malignant
    seg_classes: int = 2  # background / node (cross-entropy)
    dropout: float = 0.2
    head: str = "global"  # global | mask (mask-guided pooling; seg+cls only)
    morphology: bool = False  # shape of the predicted node fed to the head (seg+cls only)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if (self.head != "global" or self.morphology) and self.variant != "seg+cls":
            raise ValueError("mask-guided pooling and morphology need the segmentation decoder (variant seg+cls)")
        if not (isinstance(self.width, int | float) and math.isfinite(self.width)
                and WIDTH_RANGE[0] <= self.width <= WIDTH_RANGE[1]):
            raise ValueError(f"width must be a number from {WIDTH_RANGE[0]:g} to {WIDTH_RANGE[1]:g}, "
                             f"got {self.width!r}")

    def channels(self) -> tuple[int, ...]:
        k = len(self.dilations)
        # every width is a multiple of the number of ESP branches
        return tuple(max(k, int(round(c * self.width / k)) * k) for c in self.base_channels)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update({k: list(v) for k, v in d.items() if isinstance(v, tuple)})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> YNetConfig:
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class YNet(nn.Module):
    def __init__(self, config: YNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or YNetConfig()
        c0, c1, c2, c3 = config.channels()
        self.stem = ConvBNAct(config.in_channels, c0, kernel=3, stride=2)
        self.stage1 = EncoderStage(c0, c1, config.blocks[0], config.dilations)
        self.stage2 = EncoderStage(c1, c2, config.blocks[1], config.dilations)
        self.stage3 = EncoderStage(c2, c3, config.blocks[2], config.dilations)
        pooled = c3 * (3 if config.head == "mask" else 1) + (N_MORPHOLOGY if config.morphology else 0)
        self.classifier = ClassificationHead(pooled, hidden=max(16, c3 // 2), n_classes=config.n_classes,
                                             dropout=config.dropout)
        self.has_decoder = config.variant == "seg+cls"
        if self.has_decoder:
            self.pyramid = PyramidPooling(c3, config.bins)
            self.up3 = DecoderStage(c3, c2, c2)
            self.up2 = DecoderStage(c2, c1, c1)
            self.up1 = DecoderStage(c1, c0, c0)
            self.segmenter = nn.Conv2d(c0, config.seg_classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(mask logits N×2×H×W or None for cls-only, class logits N×2)."""
        h, w = x.shape[-2:]
        if h % STRIDE or w % STRIDE:
            raise ValueError(f"input size {h}×{w} is not divisible by the network stride {STRIDE}")
        s0 = self.stem(x)
        s1 = self.stage1(s0)
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        if not self.has_decoder:
            return None, self.classifier(s3)
        d = self.pyramid(s3)
        d = self.up3(d, s2)
        d = self.up2(d, s1)
        d = self.up1(d, s0)
        mask = F.interpolate(self.segmenter(d), size=(h, w), mode="bilinear", align_corners=False)
        if self.config.head == "global" and not self.config.morphology:
            return mask, self.classifier(s3)
        node = mask.detach().float().softmax(1)[:, 1:2]  # N×1×H×W probability of the node
        parts = [masked_pooling(s3, node)] if self.config.head == "mask" else [s3.mean(dim=(2, 3))]
        if self.config.morphology:
            parts.append(mask_morphology(node[:, 0]).to(s3.dtype))
        return mask, self.classifier(torch.cat(parts, dim=1)[:, :, None, None])


def masked_pooling(features: torch.Tensor, node: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Features averaged over the whole image, inside the node and in a ring around it.

    ``node`` (N×1×H×W, probabilities) is area-averaged to the feature resolution; the ring is
    its 3×3 dilation minus itself. An empty prediction gives the global average for both."""
    weight = F.adaptive_avg_pool2d(node, features.shape[-2:]).to(features.dtype)
    ring = (F.max_pool2d(weight, 3, stride=1, padding=1) - weight).clamp(min=0)
    whole = features.mean(dim=(2, 3))

    def pool(w):
        total = w.sum(dim=(2, 3))
        inside = (features * w).sum(dim=(2, 3)) / total.clamp(min=eps)
        return torch.where(total > eps, inside, whole)

    return torch.cat([whole, pool(weight), pool(ring)], dim=1)


def mask_morphology(prob: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Shape of a soft node mask (N×H×W in [0, 1]): area as a fraction of the image, log of
    the long/short-axis ratio (from the second moments: an ellipse with axes a ≥ b gives a/b),
    and circularity 4π·area / perimeter² (1 for a disk; the perimeter is the total variation
    of the mask). Zeros for an empty mask."""
    n, h, w = prob.shape
    p = prob.float()
    area = p.sum(dim=(1, 2))
    ys = torch.arange(h, device=p.device, dtype=p.dtype)[:, None].expand(h, w)
    xs = torch.arange(w, device=p.device, dtype=p.dtype)[None, :].expand(h, w)
    safe = area.clamp(min=eps)
    my, mx = (p * ys).sum(dim=(1, 2)) / safe, (p * xs).sum(dim=(1, 2)) / safe
    dy, dx = ys - my[:, None, None], xs - mx[:, None, None]
    cyy, cxx = (p * dy * dy).sum(dim=(1, 2)) / safe, (p * dx * dx).sum(dim=(1, 2)) / safe
    cxy = (p * dx * dy).sum(dim=(1, 2)) / safe
    half_trace, det_root = (cyy + cxx) / 2, torch.sqrt(((cyy - cxx) / 2) ** 2 + cxy**2)
    major, minor = half_trace + det_root, (half_trace - det_root).clamp(min=eps)
    ratio = torch.log(torch.sqrt(major / minor).clamp(min=1.0))
    gy, gx = (p[:, 1:, :] - p[:, :-1, :]).abs(), (p[:, :, 1:] - p[:, :, :-1]).abs()
    # total variation along the axes overestimates a smooth boundary by 4/π on average
    perimeter = (gy.sum(dim=(1, 2)) + gx.sum(dim=(1, 2))) * (math.pi / 4)
    circularity = 4 * math.pi * area / perimeter.clamp(min=eps) ** 2
    empty = area <= eps
    features = torch.stack([area / (h * w), ratio, circularity], dim=1)
    return torch.where(empty[:, None], torch.zeros_like(features), features)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
