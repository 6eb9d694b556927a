"""Y-Net against segmentation peers, cross-validated over the whole labeled cohort.

    python -m ynet.benchmark --data DIR --name NAME --folds 5 --epochs E \\
        [--models ynet,ynet_cls_only,smp_unet_r34,monai_unet] [--device cuda] [--out reports/benchmarks]

Protocol. The labeled cohort (``DIR/manifest.csv``; ``normal`` rows excluded by default) is
cut into ``--folds`` outer folds, stratified by label and grouped by ``split_group`` (else
patient, else node), so that several images of one lesion or patient never straddle a
training and a test part. For every model and outer fold *k*, the other folds are cut again
(stratified and grouped, 1 part in ``max(2, folds − 1)``) into an inner training and an inner
validation part; the model is fitted by the one trainer (:func:`ynet.train.fit_fold`, the
code ``ynet train`` runs) on the inner training part, its epoch is chosen on the inner
validation part, and it predicts fold *k*. Every image thus gets exactly one out-of-fold
prediction per model. Every model gets the same preprocessing, augmentation, optimiser
(Adam, lr 1e-3, batch 8, cosine schedule), epoch budget, early-stopping patience and loss:
cross-entropy for the class, cross-entropy plus ``--dice-weight`` × soft Dice for the mask
(the default of ``ynet train``; a model without one of the two heads drops that term). Y-Net
options (``--ynet-tta``, ``--ynet-class-balanced``, ``--ynet-select``, ``--ynet-head mask``,
``--ynet-morphology``) change how Y-Net uses its budget, never the budget; ``--ynet-tta
auto`` decides on the inner validation part only, and the JSON keeps every fit's
inner-validation AUC and Dice (``per_fold``) so that options are compared on inner
validation, never on the out-of-fold predictions.

Reported per model: AUC with DeLong CI and Dice median [Q1, Q3] over all out-of-fold
predictions; per-fold AUC and median Dice (mean, SD); parameters; training images/s (from the
fits themselves); inference images/s at batch 1 and 8; the peak resident memory of the
fitting processes. Y-Net against each other model on the same images: paired DeLong test
(difference, CI, p) and Wilcoxon signed-rank test on per-image Dice.

Resumable: each finished (model, fold) fit is saved as ``OUT/NAME_cv/fits/MODEL_foldK.json``
(its out-of-fold predictions, per-image Dice, timings; no weights) and a rerun continues with
the fits that are missing. ``--max-fits N`` stops after N new fits (to run in slices); an
unfinished run writes ``OUT/NAME_cv/progress.md`` and ``--status`` prints it, fitting
nothing. ``--inner-only`` (an option round) writes only that progress table, inner
validation and no out-of-fold scores, even when every fit is done; it marks the folder
(``OUT/NAME_cv/INNER_ONLY``), so that every later call on it stays blind too. Each fit
records how much CPU other processes used while it ran (Linux): a fit that shared the
machine is marked, since its training speed is not its own.
Results: ``OUT/NAME_cv.json`` and ``OUT/NAME_cv.md``; as soon as a model has all its fits,
its out-of-fold predictions ``OUT/NAME_cv/MODEL_oof.csv`` (``benchmark compare --predictions``
reads them).

The peers need ``segmentation_models_pytorch`` (smp ``Unet("resnet34")`` with an auxiliary
classification head, no pretrained weights) and ``monai`` (``UNet``, segmentation only). They
are not dependencies of this package and are imported only when asked for; they pull in
torchvision, so give the benchmark its own environment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedGroupKFold

from reportmine.core.arguments import ArgumentParser, add_seed, parse_command_line, real, whole
from reportmine.core.errors import EXIT_BAD_INPUT, InputError, run_command
from reportmine.core.labels import label_name
from reportmine.core.outputs import write_csv_atomic, write_json_atomic, write_text_atomic
from reportmine.core.provenance import versions
from reportmine.stats import auc_delong, delong_test, summarize_overlap

from .dataset import NodeDataset, PreparedCohort
from .device import hardware, resolve_device
from .images import DataError
from .limits import image_size, width
from .manifest import Manifest, read_manifest
from .model import YNet, YNetConfig
from .preprocess import Preprocessing
from .train import FoldFit, ModelBuilder, TrainConfig, evaluate, fit_fold, loss_for

log = logging.getLogger(__name__)

MODELS = ("ynet", "ynet_cls_only", "smp_unet_r34", "monai_unet")
NAMES = {"ynet": "Y-Net (segmentation + classification)", "ynet_cls_only": "Y-Net (classification only)",
         "smp_unet_r34": "smp Unet-resnet34 + aux head", "monai_unet": "MONAI UNet (segmentation only)"}
YNET_MODELS = ("ynet", "ynet_cls_only")
MODEL_KEYS = ("auc", "auc_ci_low", "auc_ci_high", "dice_median", "dice_q1", "dice_q3", "n_images", "epochs",
              "params", "train_images_per_s", "infer_images_per_s_b1", "infer_images_per_s_b8", "peak_rss_mb",
              "hardware")
PAIRED_KEYS = ("auc_difference", "ci_low", "ci_high", "p_value", "dice_wilcoxon_p", "dice_difference_median")


# ------------------------------------------------------------------ models


class _SmpPeer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.net = smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=2,
                            aux_params={"classes": 2, "dropout": 0.2})

    def forward(self, x):
        mask, label = self.net(x)
        return mask, label


class _MonaiPeer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        self.net = UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256),
                        strides=(2, 2, 2, 2), num_res_units=2)

    def forward(self, x):
        return self.net(x), None


def builder(name: str, settings: Settings) -> ModelBuilder:
    """The model builder of a benchmark model (peers import their packages only here)."""
    if name in YNET_MODELS:
        cfg = settings.train_config(name)
        model_cfg = YNetConfig(variant=cfg.variant, width=cfg.width, head=cfg.head, morphology=cfg.morphology)
        return lambda: YNet(model_cfg)
    if name == "smp_unet_r34":
        return _SmpPeer
    if name == "monai_unet":
        return _MonaiPeer
    raise InputError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


# ------------------------------------------------------------------ settings and folds


@dataclass(frozen=True)
class Settings:
    """Everything a fit depends on; one budget for every model."""

    folds: int = 5
    epochs: int = 15
    batch_size: int = 8
    lr: float = 1e-3
    patience: int | None = None  # None: no early stopping (patience = epochs)
    image_size: int = 256
    seed: int = 0
    device: str = "cpu"
    exclude_labels: tuple[str, ...] = ("normal",)
    dice_weight: float = TrainConfig.dice_weight  # the soft Dice term of every model's mask loss
    ynet_width: float = 1.0
    ynet_tta: str = "off"  # off | on | auto (decided on the inner validation part)
    ynet_class_balanced: bool = False
    ynet_select: str = "loss"  # loss | auc
    ynet_head: str = "global"  # global | mask (seg+cls Y-Net only)
    ynet_morphology: bool = False  # seg+cls Y-Net only
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise InputError(f"--folds must be at least 2, got {self.folds}")
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.ynet_tta not in ("off", "on", "auto"):
            raise InputError(f"--ynet-tta must be off, on or auto, got {self.ynet_tta!r}")

    def train_config(self, name: str) -> TrainConfig:
        """The trainer's configuration for ``name``: the same budget for every model."""
        ynet = name in YNET_MODELS
        return TrainConfig(variant="cls-only" if name == "ynet_cls_only" else "seg+cls", folds=self.folds,
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           patience=self.patience if self.patience is not None else self.epochs, seed=self.seed,
                           device=self.device, width=self.ynet_width if ynet else 1.0, image_size=self.image_size,
                           class_balanced=self.ynet_class_balanced and ynet,
                           select=self.ynet_select if ynet else "loss",
                           head=self.ynet_head if name == "ynet" else "global",
                           morphology=self.ynet_morphology and name == "ynet",
                           dice_weight=0.0 if name == "ynet_cls_only" else self.dice_weight)

    def tta(self, name: str) -> str:
        return self.ynet_tta if name in YNET_MODELS else "off"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["exclude_labels"] = list(self.exclude_labels)
        return d

    def key(self, name: str, manifest_sha256: str) -> str:
        """What a saved fit must match to be reused: the model's settings and the manifest."""
        blob = json.dumps({"model": name, "train": self.train_config(name).to_dict(), "tta": self.tta(name),
                           "folds": self.folds, "exclude": list(self.exclude_labels), "manifest": manifest_sha256,
                           "device": self.device}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cv_assignment(manifest: Manifest, folds: int, seed: int) -> pd.DataFrame:
    """One row per node: id, group, label, fold (outer) and, per outer fold k, ``role_k``
    (inner ``train`` | inner ``val`` | ``test``)."""
    labels = np.array([n.label for n in manifest.nodes])
    groups = np.array([n.group for n in manifest.nodes])
    n_groups = len(set(groups))
    if n_groups < 2 * folds:
        raise DataError(f"{manifest.path}: {n_groups} groups are too few for {folds} outer folds with an inner "
                        "validation part")
    outer = np.full(len(labels), -1)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        outer[test] = k
    table = pd.DataFrame({"id": [n.id for n in manifest.nodes], "group": groups, "label": labels, "fold": outer})
    for k in range(folds):
        rest = np.flatnonzero(outer != k)
        inner = StratifiedGroupKFold(n_splits=max(2, folds - 1), shuffle=True, random_state=seed + 1 + k)
        _, val = next(inner.split(np.zeros(len(rest)), labels[rest], groups[rest]))
        role = np.full(len(labels), "test", dtype=object)
        role[rest] = "train"
        role[rest[val]] = "val"
        table[f"role_{k}"] = role
    return table


def load_cohort(data: Path, settings: Settings) -> tuple[Manifest, PreparedCohort]:
    manifest_path = data / "manifest.csv" if data.is_dir() else data
    manifest = read_manifest(manifest_path, exclude_labels=settings.exclude_labels)
    return manifest, PreparedCohort(manifest.nodes, Preprocessing(size=settings.image_size), need_masks=False)


# ------------------------------------------------------------------ one fit


def fit_model(name: str, cohort: PreparedCohort, train_idx, val_idx, settings: Settings, fold: int,
              meta: dict | None = None) -> FoldFit:
    """Fit benchmark model ``name`` with the one trainer (what ``ynet train`` runs for a fold)."""
    return fit_fold(builder(name, settings), cohort, train_idx, val_idx, settings.train_config(name), fold=fold,
                    meta=meta)


def _loader(cohort: PreparedCohort, idx, batch: int):
    return torch.utils.data.DataLoader(NodeDataset(cohort, idx), batch_size=batch, shuffle=False)


def _score(ev) -> float:
    """One number for a TTA decision: mean of the AUC and the median Dice that the model has."""
    values = [v for v in (ev.auc, ev.dice_median) if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def run_fit(name: str, fold: int, data: Path, settings: Settings) -> dict:
    """Fit (model, outer fold) and predict the fold: the record saved for resuming."""
    started = time.perf_counter()
    manifest, cohort = load_cohort(data, settings)
    table = cv_assignment(manifest, settings.folds, settings.seed)
    role = table[f"role_{fold}"].to_numpy()
    train_idx, val_idx, test_idx = (np.flatnonzero(role == r).tolist() for r in ("train", "val", "test"))
    wall, cpu, busy = time.perf_counter(), time.process_time(), machine_busy_seconds()
    fit = fit_model(name, cohort, train_idx, val_idx, settings, fold)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu  # cpu: all of this process's threads
    others = None if busy is None else max(0.0, machine_busy_seconds() - busy - cpu) / wall
    cfg = settings.train_config(name)
    device = resolve_device(settings.device)
    loss_fn = loss_for(cfg, [cohort.nodes[i].label for i in train_idx]).to(device)
    tta = settings.tta(name)
    decision = None
    if tta == "auto":  # decided on the inner validation part, never on the test fold
        plain = evaluate(fit.model, _loader(cohort, val_idx, 16), device, loss_fn, amp=cfg.amp)
        flipped = evaluate(fit.model, _loader(cohort, val_idx, 16), device, loss_fn, amp=cfg.amp, tta=True)
        decision = {"val_plain": _score(plain), "val_tta": _score(flipped)}
        tta = "on" if decision["val_tta"] > decision["val_plain"] else "off"
    test = evaluate(fit.model, _loader(cohort, test_idx, 16), device, loss_fn, amp=cfg.amp, tta=tta == "on")
    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None

    def finite(values):
        return [None if not np.isfinite(v) else float(v) for v in values]

    return {"model": name, "fold": fold, "key": settings.key(name, manifest.sha256),
            "manifest_sha256": manifest.sha256, "ids": [cohort.nodes[i].id for i in test.indices],
            "labels": test.labels.astype(int).tolist(), "probs": finite(test.probs), "dices": finite(test.dices),
            "n_train": len(train_idx), "n_val": len(val_idx), "n_test": len(test_idx), "tta": tta,
            "tta_decision": decision, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
            "val_auc": fit.val_auc, "val_dice_median": fit.val_dice_median, "train_seconds": fit.train_seconds,
            "train_images": fit.train_images, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_gpu_mb": peak_gpu, "threads": torch.get_num_threads(), "cpu_seconds": cpu,
            "other_cpu_cores": others, "history": [{k: h[k] for k in ("epoch", "train_loss", "val_loss", "val_auc",
                                                                     "val_dice_median")} for h in fit.history],
            "wall_seconds": time.perf_counter() - started}


def measure_speed(name: str, settings: Settings, tta: bool, repeats: tuple[int, int] = (24, 6)) -> dict:
    """Parameters and inference images/s at batch 1 and 8 (forward passes only; with ``tta`` the
    mirrored pass is included, as the model is used)."""
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    model = builder(name, settings)().to(device).eval()
    params = sum(p.numel() for p in model.parameters())
    x8 = torch.randn(8, 1, settings.image_size, settings.image_size, device=device)
    out = {"params": params}
    with torch.no_grad():
        for batch, n in zip((1, 8), repeats):
            x = x8[:batch]
            run = (lambda x=x: (model(x), model(x.flip(-1)))) if tta else (lambda x=x: model(x))
            for _ in range(2):
                run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(n):
                run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            out[f"infer_images_per_s_b{batch}"] = n * batch / (time.perf_counter() - start)
    return out


# ------------------------------------------------------------------ the whole protocol


@dataclass(frozen=True)
class BenchmarkResult:
    json_path: Path | None
    markdown_path: Path | None
    complete: bool
    new_fits: int
    missing: tuple[str, ...]
    payload: dict | None = None
    inner_only: bool = False

    def summary(self) -> str:
        if self.missing:
            return (f"{self.new_fits} fit(s) done in this run; {len(self.missing)} still missing "
                    f"({', '.join(self.missing[:4])}{'…' if len(self.missing) > 4 else ''}); rerun to continue. "
                    f"Progress: {self.markdown_path}")
        if self.json_path is None and self.inner_only:
            return (f"every fit is saved; inner validation only (no out-of-fold tables; "
                    f"{self.markdown_path.parent / INNER_ONLY_MARKER} keeps it so). Progress: {self.markdown_path}")
        if self.json_path is None:  # --status with every fit saved
            return f"every fit is saved; rerun without --status to time the models and write the tables. " \
                   f"Progress: {self.markdown_path}"
        return f"written: {self.json_path}, {self.markdown_path}"


INNER_ONLY_MARKER = "INNER_ONLY"  # in NAME_cv/: this folder is an option round (``--inner-only``)


def _fits_dir(out: Path, name: str) -> Path:
    return out / f"{name}_cv" / "fits"


def _load_fit(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: unreadable saved fit ({exc}); delete it to refit") from exc
    if record.get("key") != key:
        raise InputError(f"{path}: made with other settings or another manifest; use another --name or --out")
    return record


def _fit_path(fits_dir: Path, model: str, fold: int) -> Path:
    return fits_dir / f"{model}_fold{fold}.json"


def _same_settings_fits(fits_dir: Path, model: str, key: str, folds: int) -> list[dict]:
    """The saved fits of a model not asked for in this run that match ``key`` (others are
    left alone: refusing them is for a run that would fit that model)."""
    records = []
    for k in range(folds):
        try:
            record = _load_fit(_fit_path(fits_dir, model, k), key)
        except InputError:
            continue
        if record is not None:
            records.append(record)
    return records


class WorkerFailed(RuntimeError):
    """A fit or timing process ended without its result (its own one-line error is kept)."""


def _worker(kind: str, model: str, fold: int, data: Path, settings: Settings, target: Path,
            debug: bool = False) -> None:
    """Run one fit (or speed measurement) in a fresh process, so that its peak memory is its own.
    A worker refusing its input (exit 2: a bad image, say) is an :class:`InputError` here too."""
    cmd = [sys.executable, "-m", "ynet.benchmark", "--worker", kind, "--name", "worker", "--model", model,
           "--fold", str(fold),
           "--data", str(data), "--target", str(target), "--settings", json.dumps(settings.to_dict()),
           *(["--debug"] if debug else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not target.exists():
        if debug:  # the worker's own traceback, which the parent's would not show
            log.error("%s of %s fold %d, the worker's output:\n%s", kind, model, fold, done.stderr)
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        error = InputError if done.returncode == EXIT_BAD_INPUT else WorkerFailed
        raise error(f"{kind} of {model} fold {fold} failed (exit {done.returncode}): {tail[0]}")


def oof_predictions(records: list[dict]) -> pd.DataFrame:
    """One model's out-of-fold predictions, a row per image in fold order: ``ln_id``, ``label``,
    ``prob_malignant`` (empty for a segmentation-only model), ``dice`` and ``fold`` — what
    ``benchmark compare --predictions`` reads."""
    return pd.DataFrame([{"ln_id": i, "label": label_name(y), "prob_malignant": p, "dice": d, "fold": r["fold"]}
                         for r in sorted(records, key=lambda r: r["fold"])
                         for i, y, p, d in zip(r["ids"], r["labels"], r["probs"], r["dices"])])


def summarize(fits: dict[str, list[dict]], speeds: dict[str, dict], settings: Settings, hw: str) -> dict:
    """The ``_cv.json`` payload from the saved fits (pure: no training, no timing)."""
    models, per_fold, oof = {}, {}, {}
    for name, records in fits.items():
        ids = [i for r in records for i in r["ids"]]
        labels = np.array([v for r in records for v in r["labels"]])
        probs = np.array([np.nan if v is None else v for r in records for v in r["probs"]], dtype=float)
        dices = np.array([np.nan if v is None else v for r in records for v in r["dices"]], dtype=float)
        oof[name] = pd.DataFrame({"label": labels, "prob": probs, "dice": dices}, index=pd.Index(ids, name="id"))
        entry = dict.fromkeys(MODEL_KEYS)
        if np.isfinite(probs).all():
            a = auc_delong(labels, probs)
            entry.update(auc=a.auc, auc_ci_low=a.ci_low, auc_ci_high=a.ci_high)
        if np.isfinite(dices).any():
            s = summarize_overlap(dices, n_boot=1000, seed=settings.seed)
            entry.update(dice_median=s.median, dice_q1=s.q1, dice_q3=s.q3)
        seconds = sum(r["train_seconds"] for r in records)
        entry.update(n_images=len(ids), epochs=settings.epochs,
                     train_images_per_s=sum(r["train_images"] for r in records) / seconds if seconds else None,
                     peak_rss_mb=max(r["peak_rss_mb"] for r in records), hardware=hw, **speeds[name])
        models[name] = {k: entry[k] for k in MODEL_KEYS}
        fold_auc, fold_dice = [], []
        for r in records:
            y = np.array(r["labels"])
            p = np.array([np.nan if v is None else v for v in r["probs"]], dtype=float)
            d = np.array([np.nan if v is None else v for v in r["dices"]], dtype=float)
            if np.isfinite(p).all() and len(set(y)) == 2:
                fold_auc.append(auc_delong(y, p).auc)
            if np.isfinite(d).any():
                fold_dice.append(float(np.nanmedian(d)))
        per_fold[name] = {"auc": fold_auc, "dice_median": fold_dice,
                          "auc_mean": _mean(fold_auc), "auc_sd": _sd(fold_auc),
                          "dice_mean": _mean(fold_dice), "dice_sd": _sd(fold_dice),
                          "tta": [r["tta"] for r in records], "best_epoch": [r["best_epoch"] for r in records],
                          "inner_val_auc": [r["val_auc"] for r in records],
                          "inner_val_dice_median": [r["val_dice_median"] for r in records],
                          "other_cpu_cores": [r.get("other_cpu_cores") for r in records],
                          "shared_machine": [_shared(r) for r in records],
                          "peak_gpu_mb": max((r["peak_gpu_mb"] or 0 for r in records), default=None) or None}
    paired = {}
    if "ynet" in oof:
        for name in oof:
            if name != "ynet":
                paired[f"ynet_vs_{name}"] = paired_comparison(oof["ynet"], oof[name])
    return {"models": models, "paired": paired, "per_fold": per_fold}


def _mean(values) -> float | None:
    return float(np.mean(values)) if values else None


def _known(values) -> list[float]:
    return [v for v in values if v is not None and np.isfinite(v)]


def _sd(values) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def paired_comparison(ynet: pd.DataFrame, peer: pd.DataFrame) -> dict:
    """Paired DeLong (Y-Net − peer) and Wilcoxon signed-rank on per-image Dice, same images."""
    from scipy.stats import wilcoxon

    both = ynet.merge(peer, how="inner", left_index=True, right_index=True, suffixes=("_y", "_p"))
    out = dict.fromkeys(PAIRED_KEYS)
    if len(both) and np.isfinite(both["prob_y"]).all() and np.isfinite(both["prob_p"]).all():
        t = delong_test(both["label_y"].to_numpy(), both["prob_y"].to_numpy(), both["prob_p"].to_numpy())
        out.update(auc_difference=t.difference, ci_low=t.ci_low, ci_high=t.ci_high, p_value=t.p_value)
    d = both[["dice_y", "dice_p"]].dropna()
    if len(d):  # the direction the Wilcoxon p is about: Y-Net − peer, per image
        out["dice_difference_median"] = float(np.median(d["dice_y"] - d["dice_p"]))
    if len(d) and (d["dice_y"] != d["dice_p"]).any():
        out["dice_wilcoxon_p"] = float(wilcoxon(d["dice_y"], d["dice_p"]).pvalue)
    elif len(d):
        out["dice_wilcoxon_p"] = 1.0  # identical Dice on every image
    return out


def _num(value, digits: int = 3) -> str:
    """A table cell: the number to ``digits`` places, or — where there is none."""
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def paired_lines(paired: dict) -> list[str]:
    """The Markdown table of Y-Net against each other model (same images)."""
    lines = ["", "| Y-Net vs | AUC difference (95 % CI) | paired DeLong p | median per-image Dice difference | "
             "Wilcoxon p (per-image Dice) |", "|---|---|---:|---:|---:|"]
    for key, r in paired.items():
        peer = key.removeprefix("ynet_vs_")
        diff = "—" if r["auc_difference"] is None else \
            f"{r['auc_difference']:+.3f} ({r['ci_low']:+.3f} to {r['ci_high']:+.3f})"
        dice = "—" if r.get("dice_difference_median") is None else f"{r['dice_difference_median']:+.3f}"
        lines.append(f"| {NAMES.get(peer, peer)} | {diff} | {_num(r['p_value'], 4)} | {dice} | "
                     f"{_num(r['dice_wilcoxon_p'], 4)} |")
    return lines


def markdown(payload: dict, name: str) -> str:
    p = payload["protocol"]
    lines = [f"# {name}: {p['folds']}-fold cross-validation, {p['epochs']} epochs per fit ({p['hardware']})", "",
             f"n = {p['n_images']} images ({p['n_groups']} groups); every image predicted once, out of fold. "
             f"Inner validation: 1 part in {max(2, p['folds'] - 1)} of each training part.", "",
             "| model | params | AUC (95 % CI, DeLong) | Dice median [Q1, Q3] | per-fold AUC mean (SD) | "
             "per-fold Dice mean (SD) | train img/s | infer img/s b1 | infer img/s b8 | peak RSS |",
             "|---|---:|---|---|---|---|---:|---:|---:|---:|"]
    for m, r in payload["models"].items():
        f = payload["per_fold"][m]
        auc = "—" if r["auc"] is None else f"{r['auc']:.3f} ({r['auc_ci_low']:.3f}–{r['auc_ci_high']:.3f})"
        dice = "—" if r["dice_median"] is None else \
            f"{r['dice_median']:.3f} [{r['dice_q1']:.3f}, {r['dice_q3']:.3f}]"
        lines.append(f"| {NAMES.get(m, m)} | {r['params']:,} | {auc} | {dice} | {_num(f['auc_mean'])} "
                     f"({_num(f['auc_sd'])}) | {_num(f['dice_mean'])} ({_num(f['dice_sd'])}) | "
                     f"{_num(r['train_images_per_s'], 1)} | {_num(r['infer_images_per_s_b1'], 1)} | "
                     f"{_num(r['infer_images_per_s_b8'], 1)} | {_num(r['peak_rss_mb'], 0)} MB |")
    if payload["paired"]:
        lines += paired_lines(payload["paired"])
    lines += ["", "Inner validation (where options are compared; never the out-of-fold predictions): "
              + "; ".join(f"{NAMES.get(m, m)} AUC {_num(_mean(_known(f['inner_val_auc'])))}, Dice "
                          f"{_num(_mean(_known(f['inner_val_dice_median'])))}" for m, f in payload["per_fold"].items())
              + "."]
    shared = [f"{NAMES.get(m, m)} fold {k}" for m, f in payload["per_fold"].items()
              for k, flag in enumerate(f.get("shared_machine", ())) if flag]
    if shared:
        lines += ["", f"Training speed not the model's own (another job shared the CPU): {', '.join(shared)}."]
    lines += ["", f"Settings: {json.dumps(p['settings'])}.", f"Produced by `python -m ynet.benchmark` "
              f"(ynet.train.fit_fold for every model); torch {p['versions'].get('torch')}."]
    return "\n".join(lines) + "\n"


SHARED_ABOVE = 0.25  # cores used by other processes, on average over a fit, that make it shared


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``: user,
    nice, system, irq, softirq, steal); None where that is not available."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _shared(record: dict) -> bool:
    """Whether a CPU fit shared the machine with other work (its training speed is then not
    its own): other processes used more than :data:`SHARED_ABOVE` cores on average."""
    others = record.get("other_cpu_cores")
    return record.get("peak_gpu_mb") is None and others is not None and others > SHARED_ABOVE


def progress_markdown(fits: dict[str, list[dict]], settings: Settings, name: str, *, out_of_fold: bool = True) -> str:
    """Where an unfinished benchmark stands (pure): per model the fits saved so far, each fit's
    inner-validation AUC and Dice (where options are compared) and training speed, and, for a
    model with every fold done, its out-of-fold AUC and Dice and the paired tests against
    Y-Net (when Y-Net is done too). ``out_of_fold=False`` leaves the out-of-fold columns and
    tests out, so that an option round is decided blind (``--inner-only``)."""

    done = {m: records for m, records in fits.items() if len(records) == settings.folds and out_of_fold}
    summary = summarize(done, {m: {} for m in done}, settings, "") if done else {"models": {}, "paired": {}}
    oof_head = "AUC, all out-of-fold (95 % CI, DeLong) | Dice median [Q1, Q3] | " if out_of_fold else ""
    lines = [f"# {name}: progress of the {settings.folds}-fold cross-validation ({settings.epochs} epochs per fit)",
             "", f"| model | fits done | {oof_head}inner-validation AUC / Dice per fit | train img/s per fit |",
             "|---|---:|" + "---|" * (4 if out_of_fold else 2)]
    for m, records in fits.items():
        r = summary["models"].get(m)
        auc = "—" if r is None or r["auc"] is None else \
            f"{r['auc']:.3f} ({r['auc_ci_low']:.3f}–{r['auc_ci_high']:.3f})"
        dice = "—" if r is None or r["dice_median"] is None else \
            f"{r['dice_median']:.3f} [{r['dice_q1']:.3f}, {r['dice_q3']:.3f}]"
        oof = f"{auc} | {dice} | " if out_of_fold else ""
        inner = ", ".join(f"{rec['fold']}: {_num(rec['val_auc'])} / {_num(rec['val_dice_median'])}"
                          for rec in records) or "—"
        speed = ", ".join(_num(rec["train_images"] / rec["train_seconds"], 1) + ("*" if _shared(rec) else "")
                          for rec in records if rec["train_seconds"]) or "—"
        lines.append(f"| {NAMES.get(m, m)} | {len(records)} / {settings.folds} | {oof}{inner} | {speed} |")
    if summary["paired"]:
        lines += paired_lines(summary["paired"])
    if not out_of_fold:
        lines += ["", "Inner validation only (`--inner-only`): the out-of-fold predictions are kept in the fits "
                  f"but not scored here, so that an option is chosen without them (`{INNER_ONLY_MARKER}` beside this "
                  "file keeps it so for every later call; delete it to score them)."]
    unfinished = any(len(records) < settings.folds for records in fits.values())
    lines += ["", "Training speed is each fit's own (training images / seconds of its epochs); the final "
              "table adds inference speeds timed on their own." + (" Rerun the same command to continue."
                                                                   if unfinished else "")]
    if any(_shared(rec) for records in fits.values() for rec in records):
        lines += ["", f"*: other processes used more than {SHARED_ABOVE:g} of a core on average while the fit ran; "
                  "its predictions stand, its speed does not: delete the fit and rerun it alone."]
    return "\n".join(lines) + "\n"


def run_benchmark(data: str | Path, name: str, settings: Settings, models=MODELS, out: str | Path = "reports/benchmarks",
                  *, max_fits: int | None = None, in_process: bool = False, status_only: bool = False,
                  inner_only: bool = False, debug: bool = False, say=lambda _: None) -> BenchmarkResult:
    """Run (or continue) the cross-validated benchmark; write NAME_cv.json and NAME_cv.md when
    every (model, fold) fit is done, NAME_cv/progress.md while some are missing.
    ``in_process`` fits in this process (tests; peak memory then is the whole process's);
    ``status_only`` fits and times nothing and only reports where the run stands;
    ``inner_only`` (an option round) fits but writes only the inner-validation progress table:
    no out-of-fold predictions, scores or tables."""
    data, out = Path(data), Path(out)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    manifest_path = data / "manifest.csv" if data.is_dir() else data
    manifest = read_manifest(manifest_path, exclude_labels=settings.exclude_labels)
    table = cv_assignment(manifest, settings.folds, settings.seed)
    fits_dir = _fits_dir(out, name)
    progress = fits_dir.parent / "progress.md"
    # an option round stays blind for every later call, not only those that repeat the flag
    marker = fits_dir.parent / INNER_ONLY_MARKER
    if marker.exists() and not inner_only:
        log.info("%s: an inner-validation-only round; out-of-fold scores stay unwritten", marker)
        inner_only = True
    if status_only:
        if not fits_dir.is_dir():
            raise InputError(f"{fits_dir}: no saved fits (nothing of {name!r} has run under {out})")
        max_fits = 0
    else:
        fits_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(fits_dir.parent / "folds.csv", table.to_csv(index=False))
    if inner_only and not marker.exists():  # the folder exists here: made above, or --status refused
        write_text_atomic(marker, "An option round, decided on inner validation only: no out-of-fold predictions,\n"
                                  "scores or tables are written for these fits. Delete this file to score them.\n")
    fits, missing, new = {}, [], 0
    for m in models:
        key = settings.key(m, manifest.sha256)
        fits[m] = []
        for k in range(settings.folds):
            path = _fit_path(fits_dir, m, k)
            record = _load_fit(path, key)
            if record is None and (max_fits is None or new < max_fits):
                say(f"fitting {m}, fold {k + 1} of {settings.folds}")
                if in_process:
                    write_json_atomic(path, run_fit(m, k, data, settings))
                else:
                    _worker("fit", m, k, data, settings, path, debug)
                new += 1
                record = _load_fit(path, key)
            if record is None:
                missing.append(f"{m} fold {k}")
            else:
                fits[m].append(record)
    for m, records in fits.items():  # every image once, out of fold: a model's predictions for other tools
        if len(records) == settings.folds and not inner_only:
            write_csv_atomic(fits_dir.parent / f"{m}_oof.csv", oof_predictions(records))
    # the progress table shows every model with fits of these settings here, not only those asked
    # for now (a long benchmark is run a model at a time)
    others = {m: _same_settings_fits(fits_dir, m, settings.key(m, manifest.sha256), settings.folds)
              for m in MODELS if m not in fits}
    shown = {m: fits[m] if m in fits else others[m] for m in MODELS if m in fits or others[m]}
    if missing or status_only or inner_only or any(others.values()):
        write_text_atomic(progress, progress_markdown(shown, settings, name, out_of_fold=not inner_only))
    if missing or status_only or inner_only:  # where it stands, beside the fits (a long benchmark runs over sittings)
        return BenchmarkResult(None, progress, False, new, tuple(missing), inner_only=inner_only)
    # inference is timed again by every run that writes the tables, never read back from an
    # earlier one: the speed ratios are then between models timed in one run, on the settings
    # of these fits (a file kept from a run with another Y-Net would be silently stale)
    speeds = {}
    for m in models:
        tta = any(r["tta"] == "on" for r in fits[m])
        path = fits_dir / f"{m}_speed.json"
        say(f"timing {m}")
        path.unlink(missing_ok=True)
        if in_process:
            write_json_atomic(path, measure_speed(m, settings, tta))
        else:
            _worker("speed", m, int(tta), data, settings, path, debug)
        speeds[m] = json.loads(path.read_text(encoding="utf-8"))
    hw = hardware(resolve_device(settings.device))
    payload = summarize(fits, speeds, settings, hw)
    payload["protocol"] = {
        "data": str(manifest.path), "manifest_sha256": manifest.sha256, "n_images": len(manifest.nodes),
        "n_groups": int(table["group"].nunique()), "excluded_rows": manifest.excluded, "folds": settings.folds,
        "epochs": settings.epochs, "seed": settings.seed, "device": settings.device, "hardware": hw,
        "settings": settings.to_dict(), "versions": versions(),
        "split": f"{settings.folds}-fold StratifiedGroupKFold by split_group over the whole labeled cohort; "
                 f"inner validation 1/{max(2, settings.folds - 1)} of each training part; one out-of-fold prediction per image",
        "trainer": "ynet.train.fit_fold (the code `ynet train` runs)"}
    json_path, md_path = out / f"{name}_cv.json", out / f"{name}_cv.md"
    write_json_atomic(json_path, payload)
    write_text_atomic(md_path, markdown(payload, name))
    if not any(others.values()):
        progress.unlink(missing_ok=True)  # the tables say it all now
    return BenchmarkResult(json_path, md_path, True, new, (), payload)


# ------------------------------------------------------------------ command line


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m ynet.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder with manifest.csv (or the manifest)")
    parser.add_argument("--name", required=True, help="name of the outputs (NAME_cv.json, NAME_cv.md)")
    parser.add_argument("--folds", type=whole(2, 100), default=5, help="outer folds, 2 to 100 (default 5)")
    parser.add_argument("--epochs", type=whole(1), default=15, help="epochs per fit, at least 1 (default 15)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    add_seed(parser)
    parser.add_argument("--batch-size", type=whole(1), default=8, help="at least 1 (default 8)")
    parser.add_argument("--patience", type=whole(1), help="early stopping (default: none, every fit runs --epochs)")
    parser.add_argument("--image-size", type=image_size, default=256, help="network input size in px (default 256)")
    parser.add_argument("--exclude-label", action="append", help="labels to drop (default: normal)")
    parser.add_argument("--dice-weight", type=real(0, 100), default=TrainConfig.dice_weight,
                        help="weight of the soft Dice term in every model's mask loss (default 1, as `ynet train`; "
                             "0: cross-entropy only, as the paper)")
    parser.add_argument("--ynet-width", type=width, default=1.0, help="Y-Net channel width multiplier (default 1)")
    parser.add_argument("--ynet-tta", choices=("off", "on", "auto"), default="off",
                        help="horizontal-flip test-time augmentation for Y-Net (auto: chosen on inner validation)")
    parser.add_argument("--ynet-class-balanced", action="store_true",
                        help="class-balanced classification loss for Y-Net")
    parser.add_argument("--ynet-select", choices=("loss", "auc"), default="loss",
                        help="choose Y-Net's epoch on inner-validation loss (default) or AUC")
    parser.add_argument("--ynet-head", choices=("global", "mask"), default="global",
                        help="Y-Net classification head: global pooling (paper) or mask-guided pooling")
    parser.add_argument("--ynet-morphology", action="store_true",
                        help="feed the predicted node's shape to Y-Net's classification head")
    parser.add_argument("--max-fits", type=whole(1), help="stop after this many new fits (rerun to continue)")
    parser.add_argument("--status", action="store_true",
                        help="fit nothing: print where the benchmark stands (and write NAME_cv/progress.md)")
    parser.add_argument("--inner-only", action="store_true",
                        help="option rounds: fit, but score and write inner validation only (no out-of-fold "
                             "predictions or tables), so that the option is chosen blind; the folder "
                             "keeps it (NAME_cv/INNER_ONLY) for every later call")
    parser.add_argument("--in-process", action="store_true", help="fit in this process (no worker processes)")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--worker", choices=("fit", "speed"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--fold", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    return parser


def settings_from_args(args) -> Settings:
    return Settings(folds=args.folds, epochs=args.epochs, batch_size=args.batch_size, patience=args.patience,
                    image_size=args.image_size, seed=args.seed, device=args.device,
                    exclude_labels=tuple(args.exclude_label) if args.exclude_label else ("normal",),
                    ynet_width=args.ynet_width, ynet_tta=args.ynet_tta,
                    ynet_class_balanced=args.ynet_class_balanced, ynet_select=args.ynet_select,
                    ynet_head=args.ynet_head, ynet_morphology=args.ynet_morphology,
                    dice_weight=args.dice_weight)


def main(argv=None) -> int:
    args = parse_command_line(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.worker:  # one fit or timing, in its own process; its last stderr line is the parent's message
        def work() -> int:
            raw = json.loads(args.settings)
            raw["exclude_labels"] = tuple(raw["exclude_labels"])
            settings = Settings(**raw)
            if args.worker == "fit":
                write_json_atomic(args.target, run_fit(args.model, args.fold, args.data, settings))
            else:
                write_json_atomic(args.target, measure_speed(args.model, settings, bool(args.fold)))
            return 0

        return run_command("ynet.benchmark worker", work, debug=args.debug, expected=(DataError, ValueError))

    def handler() -> int:
        settings = settings_from_args(args)
        models = tuple(m for m in args.models.split(",") if m)
        result = run_benchmark(args.data, args.name, settings, models, args.out, max_fits=args.max_fits,
                               in_process=args.in_process, status_only=args.status, inner_only=args.inner_only,
                               debug=args.debug,
                               say=lambda line: print(line, file=sys.stderr))
        print(result.summary())
        print(result.markdown_path.read_text(encoding="utf-8"))
        return 0

    return run_command("ynet.benchmark", handler, debug=args.debug, expected=(DataError, ValueError))


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["MODELS", "BenchmarkResult", "Settings", "builder", "cv_assignment", "fit_model", "main",
           "measure_speed", "paired_comparison", "run_benchmark", "run_fit", "summarize"]
