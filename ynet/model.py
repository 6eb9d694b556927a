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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ClassificationHead, ConvBNAct, DecoderStage, EncoderStage, PyramidPooling

VARIANTS = ("seg+cls", "cls-only")
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
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")

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
        self.classifier = ClassificationHead(c3, hidden=max(16, c3 // 2), n_classes=config.n_classes,
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
        logits = self.classifier(s3)
        if not self.has_decoder:
            return None, logits
        d = self.pyramid(s3)
        d = self.up3(d, s2)
        d = self.up2(d, s1)
        d = self.up1(d, s0)
        mask = F.interpolate(self.segmenter(d), size=(h, w), mode="bilinear", align_corners=False)
        return mask, logits


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
