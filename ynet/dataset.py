"""The training dataset: a cohort preprocessed once into memory, and seeded augmentation."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .images import DataError, read_image, read_mask
from .manifest import Node
from .preprocess import Prepared, Preprocessing, preprocess, standardise


class PreparedCohort:
    """Every node preprocessed once and kept in memory as uint8 (fast epochs)."""

    def __init__(self, nodes: Sequence[Node], p: Preprocessing, *, need_masks: bool, progress=None) -> None:
        self.nodes = list(nodes)
        self.preprocessing = p
        self.items: list[Prepared] = []
        for node in self.nodes:
            where = f"{node.image} (manifest row {node.row})"
            try:
                gray, rgb = read_image(node.image, p.frame)
            except DataError as exc:
                raise DataError(f"manifest row {node.row}: {exc}") from exc
            mask = read_mask(node.masks, gray.shape, where) if node.masks else None
            if need_masks and mask is None:
                raise DataError(f"manifest row {node.row}: node {node.id} has no mask")
            self.items.append(preprocess(gray, rgb, mask, p))
            if progress is not None:
                progress(1)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Augmentation:
    flip: bool = True
    max_rotation: float = 10.0  # degrees
    scale: tuple[float, float] = (0.9, 1.1)
    max_shift: float = 0.05  # fraction of the side
    brightness: float = 0.1
    contrast: float = 0.15
    speckle: float = 0.08  # std of multiplicative noise

    def to_dict(self) -> dict:
        return asdict(self)


def augment(image: torch.Tensor, mask: torch.Tensor | None, a: Augmentation, gen: torch.Generator):
    """The same random flip and affine for image (bilinear) and mask (nearest); intensity
    changes and speckle-like multiplicative noise for the image only. ``image`` is 1×H×W."""
    def uniform(lo, hi):
        return float(torch.empty(1).uniform_(lo, hi, generator=gen))

    if a.flip and uniform(0, 1) < 0.5:
        image = image.flip(-1)
        mask = mask.flip(-1) if mask is not None else None
    angle = math.radians(uniform(-a.max_rotation, a.max_rotation))
    scale = uniform(*a.scale)
    tx, ty = uniform(-a.max_shift, a.max_shift) * 2, uniform(-a.max_shift, a.max_shift) * 2
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, tx], [sin, cos, ty]], dtype=image.dtype).unsqueeze(0)
    grid = torch.nn.functional.affine_grid(theta, (1, 1, *image.shape[-2:]), align_corners=False)
    fill = image.min()
    image = torch.nn.functional.grid_sample((image - fill).unsqueeze(0), grid, mode="bilinear",
                                            padding_mode="zeros", align_corners=False)[0] + fill
    if mask is not None:
        mask = torch.nn.functional.grid_sample(mask[None, None].float(), grid, mode="nearest",
                                               padding_mode="zeros", align_corners=False)[0, 0] > 0.5
    image = image * (1 + uniform(-a.contrast, a.contrast)) + uniform(-a.brightness, a.brightness)
    noise = torch.randn(image.shape, generator=gen, dtype=image.dtype) * a.speckle
    image = image * (1 + noise)
    return image, mask


class NodeDataset(torch.utils.data.Dataset):
    """(image 1×S×S standardised, mask S×S long or -1, label, index) per node.

    With ``augmentation``, each (epoch, node) gets its own generator seeded from ``seed`` and a
    hash of the node id (not its position in the cohort), so a run is reproducible whatever the
    number of loader workers, a resumed run sees the same augmentations as an uninterrupted one,
    and a node is augmented alike in any cohort that holds it (``ynet train``'s training part or
    the benchmark's whole cohort).
    """

    def __init__(self, cohort: PreparedCohort, indices: Sequence[int], augmentation: Augmentation | None = None,
                 seed: int = 0) -> None:
        self.cohort = cohort
        self.indices = list(indices)
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self.keys = [zlib.crc32(cohort.nodes[k].id.encode("utf-8")) for k in self.indices]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        k = self.indices[i]
        item = self.cohort.items[k]
        image = torch.from_numpy(standardise(item.image))[None]
        mask = torch.from_numpy(item.mask) if item.mask is not None else None
        if self.augmentation is not None:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 10_007 + self.keys[i]) % (2**63))
            image, mask = augment(image, mask, self.augmentation, gen)
        target = mask.long() if mask is not None else torch.full(image.shape[-2:], -1, dtype=torch.long)
        label = self.cohort.nodes[k].label
        return image.float(), target, torch.tensor(-1 if label is None else label), torch.tensor(k)
