"""The fold-ensemble scoring of ``python -m ynet.benchmark --folds K``.

Dice is checked against a hand count of overlapping pixels and the AUC against
scikit-learn's ``roc_auc_score`` on the averaged probabilities.
"""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ynet.benchmark import _ensemble


def _fold(k: int, n_test: int) -> dict:
    return {"model": "ynet", "name": "Y-Net", "epochs": 3, "n_train": 10, "n_val": 3, "n_test": n_test,
            "manifest_sha256": "x", "history": [], "training_seconds": 2.0 + k, "peak_rss_mb": 100.0 + k,
            "fold": k, "auc": None, "dice_median": None}


def test_ensemble_averages_probabilities_and_maps(tmp_path):
    rng = np.random.default_rng(3)
    n, side = 12, 8
    labels = np.array([0, 1] * (n // 2))
    masks = np.zeros((n, side, side), dtype=np.uint8)
    masks[:, 2:6, 2:6] = 1  # 16 foreground pixels each
    probs = [rng.random(n), rng.random(n)]
    # model 0 is sure of the left half of every image, model 1 half-sure of it: average 0.75 ≥ 0.5;
    # both give 0.4 to column 5, so the average (0.4) drops it
    fg0 = np.zeros((n, side, side), dtype=np.float16)
    fg0[:, :, :5] = 1.0
    fg0[:, :, 5] = 0.4
    fg1 = np.zeros_like(fg0)
    fg1[:, :, :5] = 0.5
    fg1[:, :, 5] = 0.4
    files = []
    for k, fg in enumerate((fg0, fg1)):
        files.append(tmp_path / f"fold{k}.npz")
        np.savez(files[-1], probs=probs[k], labels=labels, fg=fg, masks=masks)
    result = _ensemble([_fold(0, n), _fold(1, n)], files, seed=0)

    predicted = side * 5  # columns 0–4, every row
    overlap = 4 * 3  # rows 2–5 × columns 2–4
    assert result["dice_values"] == pytest.approx([2 * overlap / (predicted + 16)] * n)
    assert result["auc"] == pytest.approx(roc_auc_score(labels, (probs[0] + probs[1]) / 2), rel=1e-12)
    assert result["auc_ci_low"] < result["auc"] < result["auc_ci_high"]
    assert result["folds"] == 2
    assert result["training_seconds"] == 5.0 and result["peak_rss_mb"] == 101.0
    assert [m["fold"] for m in result["single_models"]] == [0, 1]


def test_ensemble_of_classifiers_without_maps(tmp_path):
    labels = np.array([0, 0, 1, 1, 0, 1])
    probs = [np.array([0.1, 0.6, 0.7, 0.4, 0.2, 0.9]), np.array([0.3, 0.2, 0.8, 0.6, 0.5, 0.4])]
    files = []
    for k in range(2):
        files.append(tmp_path / f"fold{k}.npz")
        np.savez(files[-1], probs=probs[k], labels=labels, fg=np.zeros((0,), np.float16), masks=np.zeros((0,), np.uint8))
    result = _ensemble([_fold(k, 6) for k in range(2)], files, seed=0)
    assert result["dice_values"] == [] and result["dice_median"] is None
    assert result["auc"] == pytest.approx(roc_auc_score(labels, (probs[0] + probs[1]) / 2), rel=1e-12)
