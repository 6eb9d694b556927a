"""The one trainer and the cross-validated benchmark (``python -m ynet.benchmark``) on phantoms.

AUCs are checked against scikit-learn's ``roc_auc_score``, the Wilcoxon test against
``scipy.stats.wilcoxon`` and the Dice summary against ``numpy.median`` of the saved values.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import wilcoxon
from sklearn.metrics import roc_auc_score

from reportmine.core.errors import InputError
from ynet.benchmark import (
    MAX_EPOCHS,
    MODEL_KEYS,
    MODELS,
    PAIRED_KEYS,
    PATIENCE,
    Settings,
    cv_assignment,
    fit_model,
    load_cohort,
    main,
    paired_statistics,
    progress_markdown,
)
from ynet.checkpoint import load_model
from ynet.cli import main as ynet_main
from ynet.dataset import NodeDataset
from ynet.manifest import read_manifest
from ynet.phantom import write_phantom_cohort
from ynet.runs import read_run
from ynet.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--folds", "2", "--epochs", "1", "--image-size", "64", "--ynet-width", "0.25", "--timing-rounds", "2",
        "--batch-size", "4"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_phantom_cohort(tmp_path_factory.mktemp("cohort"), 24, seed=11)


def test_ynet_train_and_benchmark_fit_the_same_model(cohort, tmp_path):
    run = tmp_path / "run"
    assert ynet_main(["train", "--manifest", str(cohort), "--out", str(run), "--fold", "0", "--n-folds", "2",
                      "--epochs", "2", "--patience", "2", "--width", "0.25", "--image-size", "64",
                      "--batch-size", "4", "--seed", "3", "--device", "cpu", "--quiet"]) == 0
    settings = Settings(folds=2, epochs=2, patience=2, batch_size=4, image_size=64, seed=3, ynet_width=0.25,
                        exclude_labels=())
    _, prepared = load_cohort(Path(cohort), settings)
    splits = read_run(run).splits
    index = {n.id: i for i, n in enumerate(prepared.nodes)}
    train_ids = splits.loc[(splits["split"] == "train") & (splits["fold"] != 0), "id"]
    val_ids = splits.loc[splits["fold"] == 0, "id"]
    fit = fit_model("ynet", prepared, [index[i] for i in train_ids], [index[i] for i in val_ids], settings, fold=0)

    trained, _ = load_model(run / "fold_0" / "best.pt")
    batch = [NodeDataset(prepared, [index[i] for i in val_ids])[j] for j in range(len(val_ids))]
    x = torch.stack([b[0] for b in batch])
    with torch.no_grad():
        seg_a, cls_a = trained(x)
        seg_b, cls_b = fit.model(x)
    assert (cls_a.softmax(1) - cls_b.softmax(1)).abs().max() < 1e-6
    assert (seg_a.softmax(1) - seg_b.softmax(1)).abs().max() < 1e-6
    history = pd.read_csv(run / "fold_0" / "history.csv")
    assert np.allclose(history["val_loss"], [h["val_loss"] for h in fit.history], atol=1e-6)
    assert int(history["val_loss"].idxmin()) + 1 == fit.best_epoch


def test_every_model_gets_the_same_budget():
    settings = Settings(epochs=7, patience=3, ynet_class_balanced=True, ynet_select="auc")
    configs = [settings.train_config(m) for m in MODELS]
    for key in ("epochs", "patience", "batch_size", "lr", "weight_decay", "image_size", "augment", "seed",
                "max_train_seconds", "duplicate_threshold", "drop_conflicts"):
        assert len({getattr(c, key) for c in configs}) == 1, key
    assert Settings(epochs=7, patience=None).train_config("monai_unet").patience == 7  # no early stopping
    # by default every model trains until its inner-validation loss stops improving, 50 epochs at most
    assert (Settings().train_config("smp_unet_r34").epochs, Settings().train_config("smp_unet_r34").patience) == \
        (MAX_EPOCHS, PATIENCE) and MAX_EPOCHS >= 50
    capped = [Settings(max_fit_minutes=30).train_config(m).max_train_seconds for m in MODELS]
    assert capped == [1800.0] * len(MODELS)  # one wall-clock cap for every model
    # one mask loss for every model with a mask head: the trainer's default, or what --dice-weight says
    assert {Settings().train_config(m).dice_weight for m in ("ynet", "smp_unet_r34", "monai_unet")} == \
        {TrainConfig().dice_weight}
    assert {Settings(dice_weight=0.25).train_config(m).dice_weight for m in ("ynet", "smp_unet_r34", "monai_unet")} \
        == {0.25}
    options = Settings(ynet_head="mask", ynet_morphology=True, ynet_class_balanced=True, ynet_select="auc")
    ynet = options.train_config("ynet")
    assert (ynet.head, ynet.morphology, ynet.class_balanced, ynet.select) == ("mask", True, True, "auc")
    for peer in ("smp_unet_r34", "monai_unet"):  # Y-Net's options never reach a peer
        c = options.train_config(peer)
        assert (c.head, c.morphology, c.class_balanced, c.select) == ("global", False, False, "loss")
    cls_only = options.train_config("ynet_cls_only")  # no decoder, no mask to pool in or to score
    assert (cls_only.head, cls_only.dice_weight) == ("global", 0)
    assert Settings().key("ynet", "m") != options.key("ynet", "m")  # saved fits of other settings are refused
    # the class term's weight is a Y-Net option: only seg+cls Y-Net's loss changes, and the
    # default leaves every saved fit's key as it was
    weighted = Settings(ynet_cls_weight=0.5)
    assert [weighted.train_config(m).cls_weight for m in MODELS] == [0.5 if m == "ynet" else 1.0 for m in MODELS]
    assert weighted.key("ynet", "m") != Settings().key("ynet", "m")
    assert all(weighted.key(m, "m") == Settings().key(m, "m") for m in MODELS if m != "ynet")
    assert Settings(ynet_cls_weight=1).key("ynet", "m") == Settings().key("ynet", "m")
    with pytest.raises(InputError):
        Settings(ynet_cls_weight=0)
    assert Settings().key("monai_unet", "m") != Settings(dice_weight=0).key("monai_unet", "m")
    # equal settings are one key whether a number is written 0 or 0.0 (saved fits are not refused)
    assert Settings(dice_weight=0).key("ynet", "m") == Settings(dice_weight=0.0).key("ynet", "m")


def test_cv_assignment_grouped_stratified_every_image_tested_once(tmp_path):
    manifest = read_manifest(write_phantom_cohort(tmp_path / "c", 60, seed=5))
    table = cv_assignment(manifest, folds=5, seed=0)
    assert sorted(table["fold"].unique()) == [0, 1, 2, 3, 4]
    assert (table.groupby("group")["fold"].nunique() == 1).all()  # a patient never straddles folds
    for k in range(5):
        role = table[f"role_{k}"]
        assert ((role == "test") == (table["fold"] == k)).all()
        groups = {r: set(table.loc[role == r, "group"]) for r in ("train", "val", "test")}
        assert not (groups["train"] & groups["val"]) and not (groups["val"] & groups["test"])
        assert set(table.loc[role == "val", "label"]) == {0, 1}
    share = table.groupby("fold")["label"].mean()
    assert share.max() - share.min() < 0.3
    again = cv_assignment(manifest, folds=5, seed=0)
    pd.testing.assert_frame_equal(table, again)


def test_paired_comparison_against_scipy_and_sklearn():
    rng = np.random.default_rng(0)
    ids = [f"n{i}" for i in range(40)]
    labels = np.array([0, 1] * 20)
    a = pd.DataFrame({"label": labels, "prob": rng.random(40) * 0.5 + labels * 0.3, "dice": rng.random(40),
                      "fold": 0, "group": ids}, index=ids)
    b = pd.DataFrame({"label": labels, "prob": rng.random(40), "dice": rng.random(40), "fold": 0, "group": ids},
                     index=ids[::-1]).loc[ids]
    result = paired_statistics(a, b.iloc[::-1], seed=0)  # joined on the ids, not the row order
    expected = roc_auc_score(labels, a["prob"]) - roc_auc_score(labels, b["prob"])
    assert result["auc_difference"] == pytest.approx(expected, rel=1e-12)
    assert result["ci_low"] < expected < result["ci_high"] and 0 < result["p_value"] < 1
    assert result["dice_wilcoxon_p"] == pytest.approx(wilcoxon(a["dice"], b["dice"]).pvalue, rel=1e-12)
    assert result["dice_difference_median"] == pytest.approx(np.median(a["dice"].to_numpy() - b.loc[ids, "dice"]))
    # every image its own group: the clustered difference is DeLong's, and the Wilcoxon test over
    # groups is the per-image one
    assert result["auc_diff"] == pytest.approx(expected, rel=1e-12)
    assert result["auc_diff_p"] == pytest.approx(result["p_value"], rel=1e-9)
    assert result["auc_diff_ci_low"] == pytest.approx(result["ci_low"], rel=1e-9)
    assert result["dice_cluster_wilcoxon_p"] == pytest.approx(result["dice_wilcoxon_p"], rel=1e-12)
    assert result["dice_mean_diff"] == pytest.approx(np.mean(a["dice"].to_numpy() - b.loc[ids, "dice"]), rel=1e-12)
    assert result["dice_mean_diff_ci_low"] < result["dice_mean_diff"] < result["dice_mean_diff_ci_high"]
    no_masks = b.assign(dice=np.nan)
    assert paired_statistics(a, no_masks, seed=0)["dice_wilcoxon_p"] is None


def _fits(out: Path, name: str) -> dict:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / f"{name}_cv" / "fits").glob("*_fold*.json"))}


def test_benchmark_end_to_end_and_resume_after_interruption(cohort, tmp_path, capsys):
    models = ["--models", "ynet,ynet_cls_only", "--ynet-head", "mask", "--ynet-morphology", "--ynet-class-balanced",
              "--ynet-select", "auc"]
    straight = tmp_path / "straight"
    assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(straight), "--in-process",
                 "--ynet-tta", "auto", *TINY, *models]) == 0
    payload = json.loads((straight / "ph_cv.json").read_text())
    assert set(payload["models"]) == {"ynet", "ynet_cls_only"}
    for entry in payload["models"].values():
        assert tuple(entry) == MODEL_KEYS and entry["n_images"] == 24 and entry["epochs"] == 1
        assert entry["infer_images_per_s_b8"] > 0 and entry["train_images_per_s"] > 0 and entry["params"] > 0
    assert tuple(payload["paired"]["ynet_vs_ynet_cls_only"]) == PAIRED_KEYS
    fits = _fits(straight, "ph")
    assert sorted(fits) == ["ynet_cls_only_fold0.json", "ynet_cls_only_fold1.json", "ynet_fold0.json",
                            "ynet_fold1.json"]
    manifest_ids = set(pd.read_csv(cohort, dtype={"ln_id": str})["ln_id"])
    oof = {}
    for model in ("ynet", "ynet_cls_only"):
        records = [fits[f"{model}_fold{k}.json"] for k in range(2)]
        ids = [i for r in records for i in r["ids"]]
        assert sorted(ids) == sorted(manifest_ids)  # every image exactly one out-of-fold prediction
        assert all(r["tta"] in ("on", "off") and r["tta_decision"] for r in records)
        labels = np.array([v for r in records for v in r["labels"]])
        probs = np.array([v for r in records for v in r["probs"]], dtype=float)
        oof[model] = (labels, probs)
        assert payload["models"][model]["auc"] == pytest.approx(roc_auc_score(labels, probs), rel=1e-12)
    dices = [v for k in range(2) for v in fits[f"ynet_fold{k}.json"]["dices"]]
    assert payload["models"]["ynet"]["dice_median"] == pytest.approx(np.median(dices), rel=1e-12)
    assert payload["models"]["ynet_cls_only"]["dice_median"] is None
    # each complete model's out-of-fold predictions, as `benchmark compare --predictions` reads them
    table = pd.read_csv(straight / "ph_cv" / "ynet_oof.csv", dtype={"ln_id": str})
    gold = pd.read_csv(cohort, dtype={"ln_id": str}).set_index("ln_id")["label"]
    assert sorted(table["ln_id"]) == sorted(manifest_ids) and (table["label"] == table["ln_id"].map(gold)).all()
    assert roc_auc_score(table["label"] == "malignant", table["prob_malignant"]) == \
        pytest.approx(payload["models"]["ynet"]["auc"], rel=1e-12)
    assert np.nanmedian(table["dice"]) == pytest.approx(payload["models"]["ynet"]["dice_median"], rel=1e-12)
    assert payload["paired"]["ynet_vs_ynet_cls_only"]["auc_difference"] == pytest.approx(
        roc_auc_score(*oof["ynet"]) - roc_auc_score(*oof["ynet_cls_only"]), rel=1e-9)
    # the progress table of an unfinished run: a finished model's numbers are the final ones
    partial = {"ynet": [fits[f"ynet_fold{k}.json"] for k in range(2)],
               "ynet_cls_only": [fits["ynet_cls_only_fold0.json"]]}
    progress = progress_markdown(partial, Settings(folds=2, epochs=1), "ph")
    ynet_row = next(line for line in progress.splitlines() if line.startswith("| Y-Net (segmentation"))
    assert f"{payload['models']['ynet']['auc']:.3f} (" in ynet_row and "| 2 / 2 |" in ynet_row
    assert "| 1 / 2 | — | — |" in progress and "AUC difference" not in progress and "Rerun the same command" in progress
    assert all(r["cpu_seconds"] > 0 and r["other_cpu_cores"] >= 0 for r in fits.values())  # Linux
    busy = dict(fits["ynet_cls_only_fold0.json"], other_cpu_cores=1.2)  # a fit that shared the machine
    quiet = dict(fits["ynet_cls_only_fold0.json"], other_cpu_cores=0.05)
    marked = progress_markdown({"ynet_cls_only": [busy]}, Settings(folds=2, epochs=1), "ph")
    assert re.search(r"\| [0-9.]+\* \|", marked) and "delete the fit and rerun it alone" in marked
    plain = progress_markdown({"ynet_cls_only": [quiet]}, Settings(folds=2, epochs=1), "ph")
    assert not re.search(r"[0-9]\*", plain) and "rerun it alone" not in plain
    table = (straight / "ph_cv.md").read_text()
    assert "Y-Net (segmentation + classification)" in table and "AUC difference (95 % CI, clustered)" in table
    assert "CIs and tests count groups (clusters), not images" in table
    assert payload["protocol"]["settings"]["ynet_head"] == "mask"
    assert len(payload["per_fold"]["ynet"]["inner_val_auc"]) == 2

    # the same benchmark through worker processes, stopped after one fit, then continued
    sliced = tmp_path / "sliced"
    argv = [sys.executable, "-m", "ynet.benchmark", "--data", str(Path(cohort).parent), "--name", "ph",
            "--out", str(sliced), "--ynet-tta", "auto", *TINY, *models]
    first = subprocess.run([*argv, "--max-fits", "1"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "rerun to continue" in first.stdout and not (sliced / "ph_cv.json").exists()
    assert list(_fits(sliced, "ph")) == ["ynet_fold0.json"]
    kept = (sliced / "ph_cv" / "fits" / "ynet_fold0.json").read_bytes()
    assert "| 1 / 2 |" in (sliced / "ph_cv" / "progress.md").read_text()  # where it stands, between sittings
    capsys.readouterr()
    assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(sliced), "--ynet-tta", "auto",
                 *TINY, *models, "--status"]) == 0  # fits nothing
    status = capsys.readouterr().out
    assert list(_fits(sliced, "ph")) == ["ynet_fold0.json"] and "| 1 / 2 |" in status
    assert "| Y-Net (classification only) | 0 / 2 |" in status  # a model asked for, none of its fits done yet
    assert main(["--data", str(Path(cohort).parent), "--name", "typo", "--out", str(sliced), *TINY, *models,
                 "--status"]) == 2  # nothing of that name: said, and no folder made for it
    assert "no saved fits" in capsys.readouterr().err and not (sliced / "typo_cv").exists()
    second = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stderr.count("fitting") == 3  # only the missing fits
    assert (sliced / "ph_cv" / "fits" / "ynet_fold0.json").read_bytes() == kept
    assert not (sliced / "ph_cv" / "progress.md").exists()  # complete: the tables replace it
    resumed = json.loads((sliced / "ph_cv.json").read_text())
    for model in ("ynet", "ynet_cls_only"):
        for key in ("auc", "auc_ci_low", "auc_ci_high", "dice_median", "dice_q1", "dice_q3", "n_images"):
            a, b = payload["models"][model][key], resumed["models"][model][key]
            assert (a is None and b is None) or a == pytest.approx(b, abs=1e-9), (model, key)

    # a saved fit made with other settings is refused, not silently mixed in
    capsys.readouterr()
    assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(sliced), "--in-process",
                 *TINY[:-2], "--batch-size", "2", *models]) == 2
    assert re.search(r"ynet_fold0\.json: made with other settings", capsys.readouterr().err)

    # a run of one model (all its fits saved) writes that model's tables; the progress table
    # beside the fits still shows every model saved there, not only the one asked for
    assert not (straight / "ph_cv" / "progress.md").exists()
    # and times inference again: a speed file left by an earlier run (another Y-Net, say) is not reused
    stale = straight / "ph_cv" / "fits" / "ynet_cls_only_speed.json"
    stale.write_text(json.dumps({"params": 1, "infer_images_per_s_b1": 1e9, "infer_images_per_s_b8": 1e9}))
    assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(straight), "--in-process",
                 "--ynet-tta", "auto", *TINY, "--models", "ynet_cls_only", *models[2:]]) == 0
    again = json.loads((straight / "ph_cv.json").read_text())["models"]
    assert set(again) == {"ynet_cls_only"}
    assert again["ynet_cls_only"]["params"] == payload["models"]["ynet_cls_only"]["params"]
    assert 0 < again["ynet_cls_only"]["infer_images_per_s_b8"] < 1e9
    both = (straight / "ph_cv" / "progress.md").read_text()
    assert "| Y-Net (segmentation + classification) | 2 / 2 |" in both and "| Y-Net (classification only) | 2 / 2 |" in both

    # an option round decided blind: every fit done, yet only inner validation is scored or written
    blind = tmp_path / "blind"
    shutil.copytree(straight / "ph_cv" / "fits", blind / "ph_cv" / "fits")
    capsys.readouterr()
    assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(blind), "--in-process",
                 "--ynet-tta", "auto", *TINY, *models, "--inner-only"]) == 0
    said = capsys.readouterr()
    assert "fitting" not in said.err and "inner validation only" in said.out  # nothing refitted
    assert not (blind / "ph_cv.json").exists() and not (blind / "ph_cv.md").exists()
    assert not list((blind / "ph_cv").glob("*_oof.csv"))
    inner = (blind / "ph_cv" / "progress.md").read_text()
    first = fits["ynet_fold0.json"]
    assert f"0: {first['val_auc']:.3f} / {first['val_dice_median']:.3f}" in inner and "| 2 / 2 |" in inner
    assert "out-of-fold (95 % CI" not in inner and "AUC difference" not in inner and "Dice median [" not in inner
    assert "Rerun the same command" not in inner  # complete: nothing to continue
    # the folder stays an option round: later calls without the flag score nothing out of fold either
    assert (blind / "ph_cv" / "INNER_ONLY").is_file()
    for extra in (["--status"], []):
        capsys.readouterr()
        assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(blind), "--in-process",
                     "--ynet-tta", "auto", *TINY, *models, *extra]) == 0
        said = capsys.readouterr()
        assert "fitting" not in said.err and "timing" not in said.err and "inner validation only" in said.out
        assert not (blind / "ph_cv.json").exists() and not list((blind / "ph_cv").glob("*_oof.csv"))
        assert "AUC difference" not in (blind / "ph_cv" / "progress.md").read_text()
    (blind / "ph_cv" / "INNER_ONLY").unlink()  # deleting the mark scores the round out of fold
    assert main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(blind), "--in-process",
                 "--ynet-tta", "auto", *TINY, *models]) == 0
    assert json.loads((blind / "ph_cv.json").read_text())["models"]["ynet"]["auc"] == \
        pytest.approx(payload["models"]["ynet"]["auc"], abs=1e-12)


def test_no_training_loop_outside_the_trainer():
    pattern = re.compile(r"\.backward\(|optimizer\.step\(|opt\.step\(")
    offenders = [str(p.relative_to(ROOT)) for pkg in ("reportmine", "ynet") for p in (ROOT / pkg).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8")) and p.relative_to(ROOT) != Path("ynet/train.py")]
    assert offenders == []


@pytest.mark.parametrize("option, value", [("--folds", "1"), ("--epochs", "0"), ("--batch-size", "-2"),
                                           ("--image-size", "60"), ("--ynet-width", "nan"), ("--max-fits", "0"),
                                           ("--seed", "-1"), ("--patience", "x")])
def test_benchmark_arguments_are_checked_in_one_line(cohort, tmp_path, capsys, option, value):
    code = main(["--data", str(Path(cohort).parent), "--name", "ph", "--out", str(tmp_path / "out"),
                 option, value])
    err = capsys.readouterr().err
    assert code == 2 and option in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_worker_refusing_its_input_is_one_line_not_an_internal_error(cohort, tmp_path, capsys):
    """A fit runs in its own process; an unreadable image there is the user's input error (exit
    2, the worker's own message), not a RuntimeError traceback of the parent."""
    data = tmp_path / "data"
    manifest = pd.read_csv(cohort)
    root = Path(cohort).parent
    for column in ("image", "mask"):
        for rel in manifest[column].dropna():
            target = data / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((root / rel).read_bytes())
    manifest.to_csv(data / "manifest.csv", index=False)
    # a reference mask is read only by the fit, in its worker process (the duplicate search
    # before any fit reads the images, not the masks)
    broken = data / manifest["mask"].iloc[0]
    broken.write_bytes(b"not a PNG at all")
    code = main(["--data", str(data), "--name", "ph", "--out", str(tmp_path / "out"), *TINY, "--max-fits", "1",
                 "--models", "ynet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert "fit of ynet fold 0 failed (exit 2)" in err[-1] and broken.name in err[-1]
    assert "internal error" not in err[-1] and "Traceback" not in "\n".join(err)
    # a broken image is refused by the parent already, before any worker starts: one line too
    image = data / manifest["image"].iloc[1]
    image.write_bytes(b"not a PNG either")
    assert main(["--data", str(data), "--name", "ph2", "--out", str(tmp_path / "out2"), *TINY,
                 "--models", "ynet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and image.name in err[0] and "unreadable image" in err[0]
