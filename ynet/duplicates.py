"""Exact and near-duplicate images: found, joined into one split group, conflicts reported.

Public ultrasound sets hold the same lesion more than once (a second frame, a re-export, a
crop); if the copies land in different folds, the model is tested on images it trained on.
A manifest's own ``split_group`` cannot be trusted to catch them all, so every command that
splits or clusters a cohort (``ynet train``, the benchmark, ``benchmark compare``) runs
:func:`find_duplicates` and :func:`regroup` first.

The test. Each image is read as grayscale, shrunk to a 32 × 32 thumbnail (bilinear, with
PIL's antialiasing) and standardised; two images are near duplicates when the Pearson
correlation of their thumbnails exceeds :data:`THRESHOLD`, and exact duplicates when their
pixels are identical (this also catches flat images, whose correlation is undefined).
Duplicate links and the manifest's groups (``split_group``, else ``patient_id``) are joined
transitively (connected components): a group is never split across folds.

Why 0.93 (measured on the shipped BUSI set, 647 benign/malignant images). Above 0.95 there
are 174 pairs; the manifest's own rule (0.98) left 35 of them in different groups. Between
0.93 and 0.95 there are 9 more pairs, every one with the same label and adjacent numbers in the
source (re-acquisitions of one lesion, checked by eye). Just below 0.93 the first pairs of
different images with opposite labels appear (0.928: a benign and a malignant image that
share only the breast's layered anatomy). 0.93 therefore catches every pair above 0.95 with a
margin for thumbnails made by another resampler, and joins no unrelated images. On BUSI it
gives 501 groups (527 in the manifest); on DDTI the manifest's groups already hold every pair
(292 groups). ``ynet duplicates`` writes the pairs of any manifest; ``--duplicate-threshold``
changes the threshold.

A duplicate cluster whose images carry both labels (the same lesion called benign and
malignant) cannot be right twice: by default its images are excluded, and the run record
names them with the reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from PIL import Image

from reportmine.core.labels import label_name

from .images import DataError, read_image
from .limits import DUPLICATE_THRESHOLD
from .manifest import Manifest, Node

log = logging.getLogger(__name__)

THRESHOLD = DUPLICATE_THRESHOLD  # thumbnail Pearson correlation above which two images are one lesion
THUMBNAIL = 32  # thumbnail side in pixels
METHOD = (f"{THUMBNAIL}x{THUMBNAIL} bilinear grayscale thumbnails, Pearson correlation > threshold, "
          "or identical pixels; joined with the manifest's groups transitively")
_BLOCK = 2048  # rows of the correlation matrix computed at once (memory bound for large cohorts)


@dataclass(frozen=True)
class DuplicatePair:
    a: str
    b: str
    score: float  # thumbnail Pearson correlation (1.0 for identical pixels)
    exact: bool  # identical pixels
    label_a: int | None
    label_b: int | None

    @property
    def conflicting(self) -> bool:
        return self.label_a is not None and self.label_b is not None and self.label_a != self.label_b


@dataclass(frozen=True)
class DuplicateReport:
    """Pairs found, the merged group of every image, and the clusters with both labels."""

    threshold: float
    pairs: tuple[DuplicatePair, ...]
    groups: dict  # node id -> merged split group
    conflicts: tuple[tuple[str, ...], ...]  # duplicate clusters holding both labels (node ids)
    n_images: int
    n_groups_before: int
    method: str = METHOD

    @property
    def n_groups(self) -> int:
        return len(set(self.groups.values()))

    @property
    def conflicting_ids(self) -> tuple[str, ...]:
        return tuple(sorted(i for cluster in self.conflicts for i in cluster))

    def summary(self) -> str:
        exact = sum(p.exact for p in self.pairs)
        return (f"{self.n_images} images: {len(self.pairs)} duplicate pair(s) ({exact} exact) at correlation > "
                f"{self.threshold:g}; {self.n_groups_before} groups in the manifest, {self.n_groups} after joining "
                f"duplicates; {len(self.conflicts)} duplicate cluster(s) with both labels "
                f"({len(self.conflicting_ids)} images)")

    def to_frame(self) -> pd.DataFrame:
        """One row per pair: ``id_a``, ``id_b``, ``score``, ``exact``, ``label_a``, ``label_b``,
        ``conflict``, ``group`` (the merged group both now share)."""
        return pd.DataFrame([{"id_a": p.a, "id_b": p.b, "score": round(p.score, 6), "exact": p.exact,
                              "label_a": _name(p.label_a), "label_b": _name(p.label_b),
                              "conflict": p.conflicting, "group": self.groups[p.a]} for p in self.pairs],
                            columns=["id_a", "id_b", "score", "exact", "label_a", "label_b", "conflict", "group"])

    def record(self, excluded: Sequence[str] = ()) -> dict:
        """What a run record keeps: the test, the counts and every exclusion with its reason."""
        return {"method": self.method, "threshold": self.threshold, "n_images": self.n_images,
                "n_pairs": len(self.pairs), "n_groups_manifest": self.n_groups_before, "n_groups": self.n_groups,
                "conflicting_clusters": [list(c) for c in self.conflicts],
                "excluded": [{"id": i, "reason": "duplicate of an image with the other label"} for i in excluded]}


def _name(label: int | None) -> str:
    return "" if label is None else label_name(label)


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The 32 × 32 bilinear thumbnail of a grayscale image in [0, 1], flattened."""
    image = Image.fromarray(np.asarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(image.resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR), dtype=np.float64).ravel()


def _thumbnails(nodes: Sequence[Node]) -> tuple[np.ndarray, list[str]]:
    thumbs, digests = np.empty((len(nodes), THUMBNAIL * THUMBNAIL)), []
    for i, node in enumerate(nodes):
        try:
            gray, _ = read_image(node.image)
        except DataError as exc:  # the manifest row too, as the trainer's own reading says it
            raise DataError(f"{exc} (manifest row {node.row}, column image)") from exc
        thumbs[i] = thumbnail(gray)
        digests.append(hashlib.sha256(np.ascontiguousarray(gray).tobytes() + str(gray.shape).encode()).hexdigest())
    return thumbs, digests


def correlated_pairs(thumbs: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, r) for i < j with Pearson r of rows i and j above ``threshold`` (flat rows have
    no correlation and never match here)."""
    centred = thumbs - thumbs.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    flat = norms <= 1e-12
    z = np.where(flat[:, None], 0.0, centred / np.where(flat, 1.0, norms)[:, None])
    found = []
    for start in range(0, len(z), _BLOCK):
        block = z[start:start + _BLOCK] @ z.T
        rows, cols = np.nonzero(block > threshold)
        for r, c in zip(rows, cols):
            i = start + int(r)
            if i < c:
                found.append((i, int(c), float(min(block[r, c], 1.0))))
    return found


class _Components:
    """Union–find over node indices."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def find_duplicates(manifest: Manifest, threshold: float = THRESHOLD) -> DuplicateReport:
    """Every exact or near-duplicate pair of ``manifest``'s images, the merged split groups
    and the duplicate clusters with conflicting labels."""
    if not 0 < threshold < 1:
        raise ValueError(f"duplicate threshold must lie in (0, 1), got {threshold!r}")
    nodes = manifest.nodes
    thumbs, digests = _thumbnails(nodes)
    links = {(i, j): (r, False) for i, j, r in correlated_pairs(thumbs, threshold)}
    by_digest: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        by_digest.setdefault(d, []).append(i)
    for same in by_digest.values():
        for j in same[1:]:
            links[(same[0], j)] = (1.0, True)
    duplicates, groups = _Components(len(nodes)), _Components(len(nodes))
    first_of_group: dict[str, int] = {}
    for i, node in enumerate(nodes):
        groups.join(first_of_group.setdefault(node.group, i), i)
    for i, j in links:
        duplicates.join(i, j)
        groups.join(i, j)
    members: dict[int, list[int]] = {}
    for i in range(len(nodes)):
        members.setdefault(groups.find(i), []).append(i)
    name = {root: min(nodes[i].group for i in idx) for root, idx in members.items()}
    merged = {node.id: name[groups.find(i)] for i, node in enumerate(nodes)}
    clusters: dict[int, list[int]] = {}
    for i in range(len(nodes)):
        clusters.setdefault(duplicates.find(i), []).append(i)
    conflicts = tuple(sorted(tuple(sorted(nodes[i].id for i in idx)) for idx in clusters.values()
                             if len({nodes[i].label for i in idx if nodes[i].label is not None}) > 1))
    pairs = tuple(DuplicatePair(nodes[i].id, nodes[j].id, r, exact, nodes[i].label, nodes[j].label)
                  for (i, j), (r, exact) in sorted(links.items()))
    report = DuplicateReport(threshold, pairs, merged, conflicts, len(nodes), len({n.group for n in nodes}))
    log.info("%s", report.summary())
    return report


def regroup(manifest: Manifest, report: DuplicateReport, *, drop_conflicts: bool = True) -> tuple[Manifest, list[str]]:
    """``manifest`` with every node in its merged group; with ``drop_conflicts`` the images of
    a duplicate cluster holding both labels are left out. Returns (manifest, excluded ids)."""
    dropped = set(report.conflicting_ids) if drop_conflicts else set()
    nodes = tuple(replace(n, group=report.groups[n.id]) for n in manifest.nodes if n.id not in dropped)
    return replace(manifest, nodes=nodes), sorted(dropped)


def duplicate_aware(manifest: Manifest, threshold: float = THRESHOLD, *,
                    drop_conflicts: bool = True) -> tuple[Manifest, dict]:
    """The manifest regrouped by :func:`find_duplicates`, and the record of what was done."""
    report = find_duplicates(manifest, threshold)
    regrouped, excluded = regroup(manifest, report, drop_conflicts=drop_conflicts)
    return regrouped, report.record(excluded)


__all__ = ["METHOD", "THRESHOLD", "DuplicatePair", "DuplicateReport", "correlated_pairs", "duplicate_aware",
           "find_duplicates", "regroup", "thumbnail"]
