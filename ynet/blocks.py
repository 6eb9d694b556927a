"""Building blocks of the Y-Net, named for what they are.

BatchNorm keeps PyTorch's default momentum (0.1): the original code's 0.95 came from the
Torch7 convention and in PyTorch would weight each new batch at 95 %.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNAct(nn.Sequential):
    """Convolution → BatchNorm → PReLU (the unit every Y-Net layer is made of)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 act: bool = True) -> None:
        padding = dilation * (kernel // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act:
            layers.append(nn.PReLU(c_out))
        super().__init__(*layers)


class ESPBlock(nn.Module):
    """Efficient spatial pyramid: reduce → parallel dilated 3×3 → hierarchical fusion → concat → residual.

    The input is reduced (1×1) to ``c_out / K`` channels, transformed by K parallel 3×3
    convolutions with dilations ``dilations`` (1, 2, 4, 8), and the dilated branches are added
    cumulatively before concatenation (d1, d2, d2+d4, d2+d4+d8 as in ESPNet: hierarchical
    feature fusion, which removes the gridding artefacts of plain dilated stacks). A residual connection adds the
    input when the shapes agree.
    """

    def __init__(self, c_in: int, c_out: int, dilations: Sequence[int] = (1, 2, 4, 8)) -> None:
        super().__init__()
        k = len(dilations)
        n = c_out // k
        first = c_out - n * (k - 1)  # the first branch takes the remainder
        self.reduce = ConvBNAct(c_in, n, kernel=1)
        self.branches = nn.ModuleList(
            nn.Conv2d(n, first if i == 0 else n, 3, padding=d, dilation=d, bias=False)
            for i, d in enumerate(dilations)
        )
        self.first = first
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.PReLU(c_out)
        self.residual = c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outputs = [self.branches[0](reduced)]
        running = None
        for branch in self.branches[1:]:
            y = branch(reduced)
            running = y if running is None else running + y
            outputs.append(running)
        out = torch.cat(outputs, dim=1)
        if self.residual:
            out = out + x
        return self.act(self.norm(out))


class ResidualBlock(nn.Module):
    """A residual block whose 3×3 convolution is an ESP block (the Y-Net encoder unit)."""

    def __init__(self, channels: int, dilations: Sequence[int] = (1, 2, 4, 8)) -> None:
        super().__init__()
        self.esp = ESPBlock(channels, channels, dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.esp(x)


class EncoderStage(nn.Module):
    """Strided downsampling, then residual ESP blocks; the stage's first block output is
    concatenated with its last (the "first to last block" skip) and fused back to width."""

    def __init__(self, c_in: int, c_out: int, n_blocks: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.down = ConvBNAct(c_in, c_out, kernel=3, stride=2)
        self.blocks = nn.Sequential(*[ResidualBlock(c_out, dilations) for _ in range(n_blocks)])
        self.fuse = ConvBNAct(2 * c_out, c_out, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.down(x)
        last = self.blocks(first)
        return self.fuse(torch.cat([first, last], dim=1))


class PyramidPooling(nn.Module):
    """PSP-style pyramid pooling with bin counts (3, 5, 7, 9): works at any input size.

    Each branch pools to a b×b grid, projects (1×1) and is upsampled back to the input's
    own size (never a fixed size); the branches are concatenated with the input and fused.
    """

    def __init__(self, channels: int, bins: Sequence[int] = (3, 5, 7, 9)) -> None:
        super().__init__()
        reduced = max(channels // len(bins), 8)
        self.bins = tuple(bins)
        self.paths = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(channels, reduced, 1, bias=False), nn.PReLU(reduced))
            for b in self.bins
        )
        self.fuse = ConvBNAct(channels + reduced * len(self.bins), channels, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(path(x), size=size, mode="bilinear", align_corners=False) for path in self.paths]
        return self.fuse(torch.cat([x, *pooled], dim=1))


class DecoderStage(nn.Module):
    """Upsample ×2 to the skip's size, concatenate the encoder skip (U-Net), fuse with 3×3."""

    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.fuse = ConvBNAct(c_in + c_skip, c_out, kernel=3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([x, skip], dim=1))


class ClassificationHead(nn.Module):
    """Global average pooling → small MLP → benign/malignant logits."""

    def __init__(self, channels: int, hidden: int = 64, n_classes: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.PReLU(hidden), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.pool(x))
