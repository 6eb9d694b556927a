"""Synthetic lymph-node ultrasound phantoms, deterministic from a seed (tests and the demo).

Each image: black margins with burned-in machine parameters and a body marker, an
ultrasound field of speckled tissue, and one oval hypoechoic node. Benign nodes are oval
with an echogenic hilum most of the time; malignant nodes are rounder, usually without a
hilum, often with microcalcifications (bright dots) and cystic (anechoic) areas. Caliper
crosses mark the node's long axis. The reference mask is the node; the overlay mask (for
testing preprocessing) is every burned-in pixel.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

LEVELS = ("II", "III", "IV", "VI")
MACHINES = ("Esaote MyLab", "Philips EPIQ", "GE LOGIQ")


@dataclass(frozen=True)
class Phantom:
    image: np.ndarray  # uint8 H×W
    mask: np.ndarray  # bool H×W, the node
    overlay: np.ndarray  # bool H×W, burned-in text, calipers, marker
    field: tuple[int, int, int, int]  # top, bottom, left, right of the ultrasound field
    malignant: bool
    hilum: bool
    calcification: bool
    cystic: bool


def _ellipse(shape, cy, cx, a, b, angle) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    x, y = xx - cx, yy - cy
    c, s = math.cos(angle), math.sin(angle)
    u, v = (x * c + y * s) / a, (-x * s + y * c) / b
    return u * u + v * v <= 1.0


def make_phantom(seed: int, malignant: bool, shape: tuple[int, int] = (288, 320), overlays: bool = True) -> Phantom:
    rng = np.random.default_rng(seed)
    h, w = shape
    top, bottom, left, right = 28, h - 10, 22, w - 22
    img = np.zeros(shape, dtype=np.float32)
    field = np.zeros(shape, dtype=bool)
    field[top:bottom, left:right] = True
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), 6)
    tissue = 0.42 + 0.08 * texture / (texture.std() + 1e-6)
    img[field] = tissue[field]

    cy = rng.uniform(top + 60, bottom - 60)
    cx = rng.uniform(left + 70, right - 70)
    a = rng.uniform(26, 48)
    ratio = rng.uniform(0.72, 0.98) if malignant else rng.uniform(0.4, 0.65)
    b = a * ratio
    angle = rng.uniform(-0.5, 0.5)
    node = _ellipse(shape, cy, cx, a, b, angle) & field
    img[node] = rng.uniform(0.16, 0.24)

    hilum = bool(rng.random() < (0.2 if malignant else 0.85))
    calcification = bool(malignant and rng.random() < 0.6)
    cystic = bool(malignant and rng.random() < 0.45)
    if hilum:
        band = _ellipse(shape, cy, cx, a * 0.55, max(b * 0.22, 3), angle) & node
        img[band] = 0.7
    if cystic:
        for _ in range(rng.integers(1, 3)):
            r = rng.uniform(0.2, 0.35) * b
            oy, ox = rng.uniform(-0.3, 0.3) * b, rng.uniform(-0.4, 0.4) * a
            img[_ellipse(shape, cy + oy, cx + ox, r * 1.3, r, angle) & node] = 0.03
    if calcification:
        for _ in range(rng.integers(3, 9)):
            oy, ox = rng.uniform(-0.6, 0.6) * b, rng.uniform(-0.7, 0.7) * a
            img[_ellipse(shape, cy + oy, cx + ox, 1.6, 1.6, 0) & node] = 0.86

    # speckle: multiplicative Rayleigh noise, then the acoustic shadow of smoothing
    speckle = rng.rayleigh(1.0, shape) / math.sqrt(math.pi / 2)
    img = ndimage.gaussian_filter(img * speckle, 0.7)
    img[~field] = 0.0
    img = np.clip(img, 0, 0.9)

    canvas = Image.fromarray((img * 255).astype(np.uint8))
    overlay_layer = Image.new("L", (w, h), 0)
    if overlays:
        gain, mhz = rng.integers(40, 70), rng.integers(9, 15)
        for target in (canvas, overlay_layer):
            draw = ImageDraw.Draw(target)
            draw.text((4, 3), f"GAIN {gain}  DR 60", fill=255)
            draw.text((w - 90, 3), f"{mhz}MHz D4.0", fill=255)
            draw.rectangle((4, h - 26, 16, h - 14), outline=255)  # body marker
            draw.line((6, h - 20, 14, h - 20), fill=255)
            for sign in (-1, 1):  # calipers at the ends of the long axis
                px = cx + sign * a * math.cos(angle)
                py = cy + sign * a * math.sin(angle)
                draw.line((px - 4, py, px + 4, py), fill=255)
                draw.line((px, py - 4, px, py + 4), fill=255)
            draw.text((left + 6, top + 4), "LN", fill=255)
    image = np.asarray(canvas)
    overlay = np.asarray(overlay_layer) >= 128  # the drawn strokes (text is anti-aliased)
    return Phantom(image, node, overlay, (top, bottom, left, right), malignant, hilum, calcification, cystic)


def write_phantom_cohort(out_dir: str | Path, n: int, seed: int = 0, malignant_fraction: float = 0.45,
                         shape: tuple[int, int] = (288, 320)) -> Path:
    """Write ``n`` phantom nodes (images/, masks/, manifest.csv) and return the manifest path.

    Metadata columns (patient, level, side, sex, age, machine) and the drawn features
    (hilum, calcification, cystic) come with each row; about one patient in four has two nodes.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    patient = 0
    i = 0
    while i < n:
        patient += 1
        sex = "F" if rng.random() < 0.7 else "M"
        age = int(rng.integers(22, 75))
        machine = MACHINES[int(rng.integers(0, len(MACHINES)))]
        for _ in range(2 if rng.random() < 0.25 else 1):
            if i >= n:
                break
            malignant = bool(rng.random() < malignant_fraction)
            ph = make_phantom(seed * 100_003 + i, malignant, shape)
            node_id = f"ph{i + 1:04d}"
            Image.fromarray(ph.image).save(out / "images" / f"{node_id}.png")
            Image.fromarray(ph.mask.astype(np.uint8) * 255).save(out / "masks" / f"{node_id}.png")
            rows.append({
                "ln_id": node_id, "patient_id": f"P{patient:04d}", "image": f"images/{node_id}.png",
                "mask": f"masks/{node_id}.png", "label": "malignant" if malignant else "benign",
                "level": LEVELS[int(rng.integers(0, len(LEVELS)))], "side": "left" if rng.random() < 0.5 else "right",
                "sex": sex, "age": age, "machine": machine,
                "hilum": int(ph.hilum), "calcification": int(ph.calcification), "cystic": int(ph.cystic),
            })
            i += 1
    manifest = out / "manifest.csv"
    with open(manifest, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest
