"""The benchmark's engine: epoch-level resume, the time cap, fits on a Dask cluster, repeated
interleaved timing, and statistics that count groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

import ynet.benchmark as bench
from ynet.benchmark import Settings, run_benchmark, run_fit
from ynet.benchmark_report import model_statistics
from ynet.model import YNet, YNetConfig
from ynet.phantom import write_phantom_cohort
from ynet.timing import time_inference, time_training

TINY = dict(folds=2, epochs=2, patience=5, batch_size=4, image_size=64, ynet_width=0.25, exclude_labels=())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_phantom_cohort(tmp_path_factory.mktemp("cohort"), 24, seed=11).parent


class Killed(RuntimeError):
    pass


def test_a_killed_fit_resumes_from_its_last_finished_epoch(data, tmp_path, monkeypatch):
    settings = Settings(**TINY)
    straight = run_fit("ynet", 0, data, settings, tmp_path / "straight")
    real_fit_fold = bench.fit_fold

    def killed_in_epoch_two(*args, **kwargs):
        def on_batch(epoch, step):
            if epoch == 1:
                raise Killed
        return real_fit_fold(*args, **kwargs, on_batch=on_batch)

    monkeypatch.setattr(bench, "fit_fold", killed_in_epoch_two)
    work = tmp_path / "work"
    with pytest.raises(Killed):
        run_fit("ynet", 0, data, settings, work)
    assert (work / "last.pt").exists() and not (work / "done.json").exists()  # epoch 1 kept
    monkeypatch.setattr(bench, "fit_fold", real_fit_fold)
    resumed = run_fit("ynet", 0, data, settings, work)
    assert resumed["epochs_run"] == straight["epochs_run"] == 2
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0]["val_loss"] == pytest.approx(straight["history"][0]["val_loss"], abs=1e-9)
    np.testing.assert_allclose(resumed["probs"], straight["probs"], atol=1e-6)  # as if never interrupted


def test_the_time_cap_is_one_for_every_model_and_a_capped_fit_says_so(data, tmp_path):
    settings = Settings(**(TINY | {"epochs": 4, "max_fit_minutes": 1e-6}))
    record = run_fit("ynet_cls_only", 1, data, settings)
    assert record["capped"] and record["epochs_run"] == 1 and record["max_epochs"] == 4


def test_fits_on_a_dask_cluster_equal_local_fits(data, tmp_path):
    distributed = pytest.importorskip("distributed")  # a test dependency ([test] extra)
    settings = Settings(**(TINY | {"epochs": 1}))
    local = tmp_path / "local"
    run_benchmark(data, "ph", settings, ("ynet_cls_only",), local, in_process=True, timing_rounds=1,
                  work_root=tmp_path / "cache")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster:
        remote = tmp_path / "remote"
        result = run_benchmark(data, "ph", settings, ("ynet_cls_only",), remote, scheduler=cluster.scheduler_address,
                               timing_rounds=1, max_fits=1, work_root=tmp_path / "cache")
        assert result.missing == ("ynet_cls_only fold 1",)  # --max-fits and resuming work as before
        result = run_benchmark(data, "ph", settings, ("ynet_cls_only",), remote, scheduler=cluster.scheduler_address,
                               timing_rounds=1, work_root=tmp_path / "cache")
    assert result.complete and result.new_fits == 1
    for k in range(2):
        a = json.loads((local / "ph_cv" / "fits" / f"ynet_cls_only_fold{k}.json").read_text())
        b = json.loads((remote / "ph_cv" / "fits" / f"ynet_cls_only_fold{k}.json").read_text())
        assert a["ids"] == b["ids"]
        np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-6)
    assert not list((tmp_path / "cache").rglob("*.pt"))  # a saved fit's epochs are removed
    assert (remote / "ph_cv" / "learning_curves.png").stat().st_size > 1000


def test_inference_is_timed_in_interleaved_rounds():
    models = {"a": (YNet(YNetConfig(width=0.25)), False), "b": (YNet(YNetConfig(width=0.25)), True)}
    timed = time_inference(models, 64, rounds=5, min_seconds=0.01)
    assert timed["threads"] == torch.get_num_threads() and timed["rounds"] == 5
    for name in models:
        for batch in (1, 8):
            runs = timed["models"][name][f"infer_runs_b{batch}"]
            assert len(runs) == 5 and all(r > 0 for r in runs)
    with pytest.raises(ValueError):
        time_inference(models, 64, rounds=0)


def test_training_is_timed_in_interleaved_rounds_with_the_trainers_step():
    from ynet.loss import JointLoss

    models = {"seg+cls": (YNet(YNetConfig(width=0.25)), JointLoss()),
              "cls-only": (YNet(YNetConfig(width=0.25, variant="cls-only")), JointLoss())}
    before = {name: [p.detach().clone() for p in model.parameters()] for name, (model, _) in models.items()}
    timed = time_training(models, 64, rounds=3, batch=4, min_seconds=0.01)
    assert timed["threads"] == torch.get_num_threads() and timed["rounds"] == 3 and timed["batch"] == 4
    for name, (model, _) in models.items():
        runs = timed["models"][name]["train_runs"]
        assert len(runs) == 3 and all(r > 0 for r in runs)
        # the optimiser really stepped: the weights moved
        assert any(not torch.equal(a, b) for a, b in zip(before[name], model.parameters()))
    with pytest.raises(ValueError):
        time_training(models, 64, rounds=0)


def test_statistics_count_groups_and_the_fold_stratified_auc_is_the_within_fold_concordance():
    rng = np.random.default_rng(3)
    n = 80
    frame = pd.DataFrame({"label": rng.integers(0, 2, n), "fold": rng.integers(0, 3, n),
                          "group": [f"g{i // 2}" for i in range(n)]}, index=[f"i{i}" for i in range(n)])
    frame["prob"] = rng.random(n) * 0.6 + frame["label"] * 0.3
    frame["dice"] = rng.random(n)
    stats = model_statistics(frame, seed=0)
    assert stats["auc"] == pytest.approx(roc_auc_score(frame["label"], frame["prob"]), rel=1e-12)
    assert stats["n_clusters"] == 40 and stats["n_images"] == 80
    assert stats["dice_mean"] == pytest.approx(frame["dice"].mean(), rel=1e-12)
    assert stats["dice_median"] == pytest.approx(frame["dice"].median(), rel=1e-12)
    assert stats["dice_mean_ci_low"] < stats["dice_mean"] < stats["dice_mean_ci_high"]
    wins = pairs = 0.0  # brute force: every case against every control of the same fold
    for _, part in frame.groupby("fold"):
        cases, controls = part.loc[part["label"] == 1, "prob"], part.loc[part["label"] == 0, "prob"]
        for c in cases:
            wins += (c > controls).sum() + 0.5 * (c == controls).sum()
            pairs += len(controls)
    assert stats["auc_fold_stratified"] == pytest.approx(wins / pairs, rel=1e-12)
    # the same images, every one its own group: the clustered CI is DeLong's (narrower here,
    # where pairs of images share a group)
    alone = model_statistics(frame.assign(group=frame.index), seed=0)
    assert alone["auc_ci_low"] == pytest.approx(alone["auc_image_ci_low"], rel=1e-9)
    assert alone["auc_ci_high"] == pytest.approx(alone["auc_image_ci_high"], rel=1e-9)
