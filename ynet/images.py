"""Reading node images (PNG/JPEG/16-bit/DICOM) and reference masks as arrays.

Images come back as grayscale float32 in [0, 1] (DICOM: the chosen frame, rescaled,
MONOCHROME1 inverted; RGB → luminance) plus the RGB array when there is colour, which
:mod:`ynet.preprocess` uses to find coloured overlays. Masks are unions of binary files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from reportmine.core.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".bmp", ".tif", ".tiff")


class DataError(InputError):
    """Bad input data; the message names the file (and manifest row)."""


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
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
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

