"""Cohort manifest, image readers, preprocessing and augmentation.

Manifest (CSV or XLSX), one row per lymph node: ``ln_id`` (or ``id``), ``patient_id``,
``image``, ``mask`` (optional; several files joined with ``;`` are unioned), ``label``
(benign | malignant, or 0 | 1), ``split`` (optional: train | test), ``split_group``
(optional: rows sharing it never straddle splits), optional metadata. Paths are relative
to the manifest.

Preprocessing (:func:`preprocess`), as the paper's §2.5 and documented in the README:

1. read as grayscale in [0, 1] (PNG/JPEG; DICOM: the chosen frame, RGB → luminance);
2. remove colour overlays (pixels whose channels disagree by more than ``color_tolerance``)
   and saturated thin marks (calipers, text: bright connected components no larger than
   ``max_mark_area`` pixels that are at least ``mark_level`` bright), by filling them from
   their neighbourhood;
3. crop to the ultrasound field: the bounding box of the largest connected region that is
   not background-dark, which drops the machine parameters and body markers printed in
   the black margins;
4. resize to ``size`` × ``size`` (bilinear for the image, nearest for the mask);
5. standardise (zero mean, unit variance per image).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy import ndimage

from reportmine.core.labels import BENIGN, CLASS_NAMES, MALIGNANT
from reportmine.core.provenance import file_sha256

LABELS = {BENIGN: 0, MALIGNANT: 1, "0": 0, "1": 1}
LABEL_NAMES = CLASS_NAMES
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".bmp", ".tif", ".tiff")


class DataError(ValueError):
    """Bad input data; the message names the file (and manifest row)."""


# ---------------------------------------------------------------- reading images


def read_image(path: Path, frame: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(grayscale float32 in [0, 1], RGB float32 or None) from PNG/JPEG/DICOM."""
    if not path.exists():
        raise DataError(f"{path}: image not found")
    if path.suffix.lower() in (".dcm", ".dicom"):
        return _read_dicom(path, frame)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
                return _luminance(rgb), rgb
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)
                return _unit(arr), None
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0, None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: unreadable image ({type(exc).__name__})") from exc


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float32)


def _unit(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    return np.zeros_like(arr, dtype=np.float32) if hi <= lo else ((arr - lo) / (hi - lo)).astype(np.float32)


def _read_dicom(path: Path, frame: int) -> tuple[np.ndarray, np.ndarray | None]:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken files
        raise DataError(f"{path}: unreadable DICOM ({type(exc).__name__}: {exc})") from exc
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    if n_frames > 1:
        if not 0 <= frame < n_frames:
            raise DataError(f"{path}: frame {frame} requested but the file has {n_frames} frames")
        pixels = pixels[frame]
    pixels = pixels.astype(np.float32)
    if samples == 3:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels.astype(np.uint8), photometric, "RGB").astype(np.float32)
        rgb = _unit(pixels) if pixels.max() > 1 else pixels
        return _luminance(rgb), rgb
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    gray = _unit(pixels * slope + intercept)
    if photometric == "MONOCHROME1":
        gray = 1.0 - gray
    return gray, None


def read_mask(paths: Sequence[Path], shape: tuple[int, int], row_label: str) -> np.ndarray:
    """Union of one or more binary masks (any non-zero pixel is foreground)."""
    union = np.zeros(shape, dtype=bool)
    for path in paths:
        if not path.exists():
            raise DataError(f"{row_label}: mask {path} not found")
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L") if im.mode not in ("1", "L", "I", "I;16") else im)
        except (OSError, ValueError) as exc:
            raise DataError(f"{row_label}: unreadable mask {path} ({type(exc).__name__})") from exc
        if arr.shape[:2] != shape:
            raise DataError(f"{row_label}: mask {path.name} is {arr.shape[1]}×{arr.shape[0]} but the image is "
                            f"{shape[1]}×{shape[0]}")
        values = np.unique(arr)
        if values.size > 2:
            raise DataError(f"{row_label}: mask {path.name} is not binary ({values.size} distinct values); "
                            "save masks losslessly (PNG) with 0 for background")
        union |= arr != 0
    return union


# ---------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocessing:
    size: int = 256
    remove_overlays: bool = True
    crop_to_field: bool = True
    color_tolerance: float = 0.08  # channel disagreement that marks a colour overlay
    mark_level: float = 0.94  # brightness of burned-in marks (calipers, text)
    max_mark_area: int = 400  # marks are small: larger bright regions are anatomy
    field_level: float = 0.06  # darker than this (after smoothing) is background outside the field
    frame: int = 0  # DICOM frame to use

    def to_dict(self) -> dict:
        return asdict(self)


def overlay_mask(gray: np.ndarray, rgb: np.ndarray | None, p: Preprocessing) -> np.ndarray:
    """Pixels that belong to burned-in overlays rather than to the ultrasound image."""
    mask = np.zeros(gray.shape, dtype=bool)
    if rgb is not None:
        chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
        mask |= chroma > p.color_tolerance
    bright = gray >= p.mark_level
    if bright.any():
        labels, n = ndimage.label(bright, structure=np.ones((3, 3)))
        areas = ndimage.sum_labels(bright, labels, index=np.arange(1, n + 1))
        small = np.flatnonzero(areas <= p.max_mark_area) + 1
        cores = np.isin(labels, small)
        # anti-aliased strokes: grey pixels right next to a saturated core belong to the mark
        halo = ndimage.binary_dilation(cores, iterations=2) & (gray >= p.mark_level / 2)
        mask |= cores | halo
    return ndimage.binary_dilation(mask, iterations=1) if mask.any() else mask


def fill_from_neighbourhood(image: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Fill ``holes`` with the mean of nearby valid pixels (normalised convolution, growing)."""
    if not holes.any():
        return image
    out = image.copy()
    valid = (~holes).astype(np.float32)
    size = 5
    while True:
        num = ndimage.uniform_filter(out * valid, size=size)
        den = ndimage.uniform_filter(valid, size=size)
        fill = holes & (den > 1e-6)
        out[fill] = num[fill] / den[fill]
        if fill.sum() == holes.sum() or size > max(image.shape):
            return out
        size *= 2


def field_box(gray: np.ndarray, p: Preprocessing) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the ultrasound field; the whole image if none is clear."""
    h, w = gray.shape
    smooth = ndimage.uniform_filter(gray, size=9)
    on = smooth > p.field_level
    labels, n = ndimage.label(on)
    if n == 0:
        return 0, h, 0, w
    areas = ndimage.sum_labels(on, labels, index=np.arange(1, n + 1))
    biggest = int(np.argmax(areas)) + 1
    if areas[biggest - 1] < 0.2 * h * w:
        return 0, h, 0, w
    rows = np.flatnonzero((labels == biggest).any(axis=1))
    cols = np.flatnonzero((labels == biggest).any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray  # uint8 size×size (before standardisation, for caching)
    mask: np.ndarray | None  # bool size×size
    box: tuple[int, int, int, int]  # crop box in the original image
    original_shape: tuple[int, int]
    overlay_pixels: int


def _resize(arr: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    im = Image.fromarray(arr)
    return np.asarray(im.resize((size, size), Image.NEAREST if nearest else Image.BILINEAR))


def preprocess(gray: np.ndarray, rgb: np.ndarray | None, mask: np.ndarray | None, p: Preprocessing) -> Prepared:
    overlays = overlay_mask(gray, rgb, p) if p.remove_overlays else np.zeros(gray.shape, bool)
    clean = fill_from_neighbourhood(gray, overlays)
    box = field_box(clean, p) if p.crop_to_field else (0, gray.shape[0], 0, gray.shape[1])
    t, b, left, r = box
    crop = clean[t:b, left:r]
    image = _resize(np.clip(crop * 255.0 + 0.5, 0, 255).astype(np.uint8), p.size, nearest=False)
    out_mask = None
    if mask is not None:
        out_mask = _resize(mask[t:b, left:r].astype(np.uint8) * 255, p.size, nearest=True) > 0
    return Prepared(image, out_mask, box, gray.shape, int(overlays.sum()))


def standardise(image_u8: np.ndarray) -> np.ndarray:
    x = image_u8.astype(np.float32) / 255.0
    return (x - x.mean()) / max(float(x.std()), 1e-3)


def restore_mask(mask: np.ndarray, box: tuple[int, int, int, int], original_shape: tuple[int, int]) -> np.ndarray:
    """A size×size predicted mask put back at the original image's resolution."""
    t, b, left, r = box
    full = np.zeros(original_shape, dtype=bool)
    patch = Image.fromarray(mask.astype(np.uint8) * 255).resize((r - left, b - t), Image.NEAREST)
    full[t:b, left:r] = np.asarray(patch) > 0
    return full


# ---------------------------------------------------------------- manifest


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
META_SKIP = {"ln_id", "id", "patient_id", "image", "mask", "label", "split", "split_group"}


def read_manifest(path: str | Path, *, exclude_labels: Sequence[str] = (), require_labels: bool = True,
                  require_masks: bool = False) -> Manifest:
    """Read and validate a cohort manifest (errors name the file, row and column)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: manifest not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise DataError(f"{path}: manifest must be .csv or .xlsx")
    except (ValueError, OSError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: unreadable manifest ({exc})") from exc
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
    for i, rec in enumerate(frame.to_dict("records")):
        row = i + 2
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
            if raw_label not in LABELS:
                raise DataError(f"{where}, column label: {rec.get('label', '')!r} is not benign or malignant"
                                + (" (exclude other classes with --exclude-label)" if raw_label else ""))
            label = LABELS[raw_label]
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
        meta = {k: v for k, v in rec.items() if k not in META_SKIP}
        nodes.append(Node(node_id, row, patient, group, root / image, masks, label, split, meta))
    if not nodes:
        raise DataError(f"{path}: no rows to use" + (f" ({excluded} excluded by label)" if excluded else ""))
    return Manifest(path, file_sha256(path), tuple(nodes), excluded)


# ---------------------------------------------------------------- dataset and augmentation


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

    With ``augmentation``, each (epoch, index) gets its own generator seeded from ``seed``,
    so a run is reproducible whatever the number of loader workers, and a resumed run sees
    the same augmentations as an uninterrupted one.
    """

    def __init__(self, cohort: PreparedCohort, indices: Sequence[int], augmentation: Augmentation | None = None,
                 seed: int = 0) -> None:
        self.cohort = cohort
        self.indices = list(indices)
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

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
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 10_007 + k) % (2**63))
            image, mask = augment(image, mask, self.augmentation, gen)
        target = mask.long() if mask is not None else torch.full(image.shape[-2:], -1, dtype=torch.long)
        label = self.cohort.nodes[k].label
        return image.float(), target, torch.tensor(-1 if label is None else label), torch.tensor(k)
