"""Reading node images (PNG/JPEG/16-bit/DICOM) and reference masks as arrays.

Images come back as grayscale float32 in [0, 1] (DICOM: the chosen frame, rescaled,
MONOCHROME1 inverted; RGB → luminance) plus the RGB array when there is colour, which
:mod:`ynet.preprocess` uses to find coloured overlays. Masks are unions of binary files.

Every file is checked before it is decoded: a regular file (a pipe or ``/dev/zero`` is one
line, not a hang) of at most :data:`MAX_FILE_BYTES`, whose header declares at most
:data:`MAX_VALUES` pixel values (width × height × channels; a decompression bomb is refused
from its header, before a byte of pixel data is decoded). A DICOM file is read without its
pixel data first; its rows × columns × samples × frames × bytes per sample is checked
before anything is decompressed, and only the chosen frame is decoded.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from reportmine.core.errors import InputError
from reportmine.core.inputs import check_input_file

# An ultrasound frame is about 1000 × 800 pixels; 64 megapixel values (8000 × 8000 grey, or
# 4600 × 4600 RGB) leave room for any scanner and keep one decoded image under 1 GiB as float32.
MAX_VALUES = 64_000_000
MAX_FILE_BYTES = 1 << 30  # a DICOM file may hold many frames
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".bmp", ".tif", ".tiff")


class DataError(InputError):
    """Bad input data; the message names the file (and manifest row)."""


def read_image(path: Path, frame: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(grayscale float32 in [0, 1], RGB float32 or None) from PNG/JPEG/DICOM."""
    _check_file(path, "image")
    if path.suffix.lower() in (".dcm", ".dicom"):
        return _read_dicom(path, frame)
    try:
        with _quiet_bomb_warning(), Image.open(path) as im:
            _check_header(path, im)
            im.load()
            if im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
                return _luminance(rgb), rgb
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)
                return _unit(arr), None
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0, None
    except DataError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: unreadable image ({type(exc).__name__})") from exc


def _check_file(path: Path, what: str) -> None:
    try:
        check_input_file(path, what=what, max_bytes=MAX_FILE_BYTES)
    except InputError as exc:
        raise DataError(str(exc)) from None


def _check_values(path: Path, width: int, height: int, channels: int, frames: int = 1) -> None:
    values = int(width) * int(height) * max(int(channels), 1) * max(int(frames), 1)
    if values > MAX_VALUES:
        raise DataError(f"{path}: {width} × {height} pixels × {channels} channel(s)"
                        + (f" × {frames} frames" if frames > 1 else "")
                        + f" = {values:,} values, more than the {MAX_VALUES:,} an image may have "
                        "(refused before decoding)")


@contextlib.contextmanager
def _quiet_bomb_warning():
    """Pillow warns (on stderr) about a large image as it opens it; the bound is ours to say."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _check_header(path: Path, im: Image.Image) -> None:
    """Refuse an image whose header declares too many values, before it is decoded."""
    _check_values(path, im.width, im.height, len(im.getbands()))


# RLE turns 2 bytes into up to 128: a frame's compressed data is refused when larger than
# the image it declares (a real RLE frame is at most ~1 % larger) or than this many bytes.
MAX_COMPRESSED_FRAME_BYTES = 32 << 20


def _check_compressed_frame(path: Path, ds, frame: int, n_frames: int, expected: int) -> None:
    """Refuse a compressed frame that could decode to more than its header declares (an RLE
    bomb), before it is decompressed."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed or "PixelData" not in ds:
        return
    from pydicom.encaps import get_frame

    data = get_frame(ds.PixelData, frame, number_of_frames=n_frames)
    if len(data) > min(expected + expected // 50 + 1024, MAX_COMPRESSED_FRAME_BYTES):
        raise DataError(f"{path}: frame {frame} holds {len(data):,} compressed bytes for an image of "
                        f"{expected:,} bytes (a decompression bomb?); refused before decoding")


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float32)


def _unit(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    return np.zeros_like(arr, dtype=np.float32) if hi <= lo else ((arr - lo) / (hi - lo)).astype(np.float32)


def _read_dicom(path: Path, frame: int) -> tuple[np.ndarray, np.ndarray | None]:
    import pydicom
    from pydicom.pixels import pixel_array

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        rows, columns = int(header.Rows), int(header.Columns)
        n_frames = int(getattr(header, "NumberOfFrames", 1) or 1)
        samples = int(getattr(header, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(header, "BitsAllocated", 8) or 8)
    except Exception as exc:  # pydicom raises many types for broken files
        raise DataError(f"{path}: unreadable DICOM ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from exc
    if min(rows, columns, n_frames, samples, bits) < 1:
        raise DataError(f"{path}: unreadable DICOM (its header declares {rows} × {columns} pixels, "
                        f"{n_frames} frames, {samples} samples, {bits} bits)")
    # only the chosen frame is decoded: bound what it decodes to before any pixel data is read
    _check_values(path, columns, rows, samples)
    if n_frames > 1 and not 0 <= frame < n_frames:
        raise DataError(f"{path}: frame {frame} requested but the file has {n_frames} frames")
    try:
        ds = pydicom.dcmread(path)
        _check_compressed_frame(path, ds, frame if n_frames > 1 else 0, n_frames,
                                rows * columns * samples * -(-bits // 8))
        pixels = pixel_array(ds, index=frame if n_frames > 1 else None)
    except DataError:
        raise
    except Exception as exc:  # pydicom raises many types for broken files
        raise DataError(f"{path}: unreadable DICOM ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from exc
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
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
        _check_file(path, "mask")
        try:
            with _quiet_bomb_warning(), Image.open(path) as im:
                _check_header(path, im)
                arr = np.asarray(im.convert("L") if im.mode not in ("1", "L", "I", "I;16") else im)
        except DataError:
            raise
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

