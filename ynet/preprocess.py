"""Preprocessing of one ultrasound image (the paper's §2.5), as documented in the README:

1. read as grayscale in [0, 1] (:mod:`ynet.images`);
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
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage


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

    @classmethod
    def from_dict(cls, settings) -> Preprocessing:
        """Checked settings (a checkpoint's ``preprocessing`` entry is untrusted input):
        ValueError, one line, for anything but known names with values of the right type
        and range (size 16–2048 px, levels and tolerances in [0, 1], counts ≥ 0)."""
        if not isinstance(settings, dict):
            raise ValueError(f"preprocessing must be a table of settings, got {type(settings).__name__}")
        unknown = sorted(str(k) for k in settings if k not in cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown preprocessing setting(s) {', '.join(unknown[:3])}")
        for name, value in settings.items():
            low, high = _RANGES[name]
            expected = type(getattr(cls, name))
            if expected is bool:
                ok = isinstance(value, bool)
            elif expected is int:
                ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
            else:
                ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                      and low <= value <= high)
            if not ok:
                what = "true or false" if expected is bool else f"a number from {low} to {high}"
                raise ValueError(f"preprocessing setting {name} must be {what}, got {value!r}")
        return cls(**settings)


_RANGES = {"size": (16, 2048), "remove_overlays": (0, 1), "crop_to_field": (0, 1), "color_tolerance": (0.0, 1.0),
           "mark_level": (0.0, 1.0), "max_mark_area": (0, 10**7), "field_level": (0.0, 1.0), "frame": (0, 100_000)}


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
