"""Cluster ids (patients) as integer codes, and per-cluster sums: shared by the clustered statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def cluster_codes(clusters: Sequence, n: int | None = None, what: str = "clusters") -> tuple[np.ndarray, int]:
    """(code of each unit's cluster 0..K−1, K). Ids are compared as text; a missing id is an error."""
    arr = np.asarray(clusters, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected one id per unit")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{what}: {arr.shape[0]} ids for {n} units")
    text = np.empty(arr.shape[0], dtype=object)
    for i, value in enumerate(arr.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
            raise ValueError(f"{what}: missing cluster id at position {i}")
        text[i] = str(value).strip()
    if text.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), 0
    _, codes = np.unique(text.astype(str), return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    return codes, int(codes.max()) + 1


def per_cluster(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Sum of ``values`` within each cluster (length K, zeros for clusters with none)."""
    return np.bincount(codes, weights=np.asarray(values, dtype=np.float64), minlength=k)
