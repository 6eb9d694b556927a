"""Training, checkpoints, resume, DDP and the ynet CLI on a small phantom cohort."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ynet.checkpoint import load_checkpoint, load_model
from ynet.cli import main
from ynet.phantom import write_phantom_cohort
from ynet.runs import read_run
from ynet.train import TrainConfig, train

TINY = dict(width=0.25, image_size=64, batch_size=4, folds=2, epochs=3, patience=10, seed=3)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_phantom_cohort(tmp_path_factory.mktemp("cohort"), 24, seed=11)


def _state(path):
    return load_checkpoint(path)["state_dict"]


def test_train_writes_run_folder_and_checkpoint_round_trip(cohort, tmp_path):
    run = tmp_path / "run"
    result = train(cohort, run, TrainConfig(fold=0, **TINY), progress=False)
    assert result["folds"][0]["epochs_run"] == 3
    fold = run / "fold_0"
    for name in ("best.pt", "last.pt", "history.csv", "history.json", "learning_curves.png", "oof_predictions.csv"):
        assert (fold / name).exists(), name
    history = pd.read_csv(fold / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3] and {"val_auc", "val_dice_median", "train_loss"} <= set(history)
    oof = pd.read_csv(run / "oof_predictions.csv")
    splits = pd.read_csv(run / "splits.csv", dtype={"id": str})
    assert set(oof["ln_id"]) == set(splits.loc[splits["fold"] == 0, "id"])
    meta = json.loads((run / "run.json").read_text())
    assert len(meta["manifest_sha256"]) == 64 and meta["versions"]["torch"]

    for where in (run, fold / "best.pt"):  # the run folder, or the run a checkpoint belongs to
        found = read_run(where)
        assert found.root == run.resolve() or found.root == run
        assert found.checkpoints == {0: found.root / "fold_0" / "best.pt"}
        assert found.ids("test") == list(splits.loc[splits["split"] == "test", "id"])
        assert list(found.oof["ln_id"]) == list(oof["ln_id"].astype(str))
        assert found.record["manifest_sha256"] == meta["manifest_sha256"]

    model, info = load_model(fold / "best.pt")
    assert info["label_map"] == {"benign": 0, "malignant": 1} and info["seed"] == 3
    assert info["preprocessing"]["size"] == 64 and info["manifest_sha256"] == meta["manifest_sha256"]
    x = torch.randn(2, 1, 64, 64)
    again, _ = load_model(fold / "best.pt")
    with torch.no_grad():
        a, b = model(x), again(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_resume_after_kill_equals_uninterrupted_run(cohort, tmp_path):
    cfg = TrainConfig(fold=1, **TINY)
    train(cohort, tmp_path / "straight", cfg, progress=False)

    def kill(epoch, step):
        if epoch == 1 and step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cohort, tmp_path / "killed", cfg, progress=False, on_batch=kill)
    assert load_checkpoint(tmp_path / "killed" / "fold_1" / "last.pt")["epoch"] == 0
    wider = TrainConfig(fold=1, **(TINY | {"width": 0.5}))  # weights of another shape: refused in one line
    record = (tmp_path / "killed" / "run.json").read_bytes()
    with pytest.raises(ValueError, match=r"made with --width 0\.25, now 0\.5; cannot resume"):
        train(cohort, tmp_path / "killed", wider, resume=True, progress=False)
    assert (tmp_path / "killed" / "run.json").read_bytes() == record  # refused before anything is written
    train(cohort, tmp_path / "killed", cfg, resume=True, progress=False)
    a = _state(tmp_path / "straight" / "fold_1" / "last.pt")
    b = _state(tmp_path / "killed" / "fold_1" / "last.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ha = pd.read_csv(tmp_path / "straight" / "fold_1" / "history.csv")
    hb = pd.read_csv(tmp_path / "killed" / "fold_1" / "history.csv")
    pd.testing.assert_frame_equal(ha.drop(columns=["seconds", "train_images_per_s"]),
                                  hb.drop(columns=["seconds", "train_images_per_s"]))
    with pytest.raises(ValueError, match="previous run"):
        train(cohort, tmp_path / "killed", cfg, progress=False)
    # a finished run is checked too: more epochs would make run.json claim what no checkpoint used
    with pytest.raises(ValueError, match=r"made with --epochs 3, now 5"):
        train(cohort, tmp_path / "killed", TrainConfig(fold=1, **(TINY | {"epochs": 5})), resume=True, progress=False)
    # a run record from before a setting existed: the setting counts as its default
    older = json.loads((tmp_path / "killed" / "run.json").read_text())
    del older["train_config"]["select"]
    (tmp_path / "killed" / "run.json").write_text(json.dumps(older))
    train(cohort, tmp_path / "killed", cfg, resume=True, progress=False)


def test_ddp_two_cpu_processes_train_one_epoch(cohort, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    run = tmp_path / "ddp"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "ynet.cli", "train", "--manifest", str(cohort), "--out", str(run), "--fold", "0",
                           "--n-folds", "2", "--epochs", "1", "--width", "0.25", "--image-size", "64",
                           "--batch-size", "4", "--device", "cpu", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    history = pd.read_csv(run / "fold_0" / "history.csv")
    assert len(history) == 1 and np.isfinite(history["val_loss"]).all()
    assert (run / "fold_0" / "best.pt").exists()


def test_predict_writes_probabilities_masks_and_dice(cohort, tmp_path, capsys):
    run = tmp_path / "run"
    train(cohort, run, TrainConfig(fold=0, **TINY), progress=False)
    out = tmp_path / "preds.csv"
    code = main(["predict", "--model", str(run / "fold_0" / "best.pt"), "--model", str(run / "fold_0" / "last.pt"),
                 "--manifest", str(cohort), "--split", "test", "--splits", str(run / "splits.csv"),
                 "--out", str(out), "--masks-dir", str(tmp_path / "masks")])
    assert code == 0, capsys.readouterr().err
    preds = pd.read_csv(out)
    splits = pd.read_csv(run / "splits.csv", dtype={"id": str})
    assert set(preds["ln_id"]) == set(splits.loc[splits["split"] == "test", "id"])
    assert preds["prob_malignant"].between(0, 1).all() and (preds["n_models"] == 2).all()
    assert preds["dice"].between(0, 1).all()
    first = preds.iloc[0]
    with Image.open(first["mask_file"]) as mask, Image.open(first["image"]) as image:
        assert mask.size == image.size  # back at the original resolution


def test_cls_only_variant_predicts_without_masks(cohort, tmp_path):
    run = tmp_path / "cls"
    train(cohort, run, TrainConfig(variant="cls-only", fold=0, **TINY), progress=False)
    from ynet.predict import predict

    preds = predict([run / "fold_0" / "best.pt"], images=[Path(cohort).parent / "images" / "ph0001.png"],
                    masks_dir=tmp_path / "masks")
    assert len(preds) == 1 and np.isnan(preds["dice"][0]) and (preds["mask_file"] == "").all()
    assert not (tmp_path / "p.csv").exists() and not any((tmp_path / "masks").iterdir())


@pytest.mark.parametrize("problem", ["missing_image", "mask_size", "non_binary", "bad_label", "empty", "checkpoint"])
def test_cli_bad_input_one_line_exit_2(cohort, tmp_path, capsys, problem):
    frame = pd.read_csv(cohort)
    root = Path(cohort).parent
    manifest = root / f"bad_{problem}.csv"
    argv = ["train", "--manifest", str(manifest), "--out", str(tmp_path / "run"), "--epochs", "1",
            "--width", "0.25", "--image-size", "64", "--quiet"]
    if problem == "missing_image":
        frame.loc[3, "image"] = "images/nope.png"
    elif problem == "mask_size":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "masks" / "small.png")
        frame.loc[3, "mask"] = "masks/small.png"
    elif problem == "non_binary":
        Image.fromarray((np.arange(288 * 320).reshape(288, 320) % 7).astype(np.uint8)).save(root / "masks" / "g.png")
        frame.loc[3, "mask"] = "masks/g.png"
    elif problem == "bad_label":
        frame.loc[3, "label"] = "suspicious"
    elif problem == "empty":
        frame = frame.iloc[:0]
    elif problem == "checkpoint":
        bogus = tmp_path / "bogus.pt"
        torch.save({"hello": torch.zeros(2)}, bogus)
        argv = ["predict", "--model", str(bogus), "--images", str(root / "images" / "ph0001.png"),
                "--out", str(tmp_path / "p.csv")]
    frame.to_csv(manifest, index=False)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("ynet: error:")
    if problem in ("missing_image", "mask_size", "non_binary", "bad_label"):
        assert "row 5" in err
    if problem == "checkpoint":
        assert "bogus.pt" in err and not (tmp_path / "p.csv").exists()


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert 0 < payload["params"] <= 2_000_000
