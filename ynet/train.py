"""The one trainer: every model (Y-Net and the benchmark's peers) is fitted by :func:`fit_fold`.

:func:`fit_fold` takes a model builder (a function returning a fresh ``nn.Module`` whose
forward gives ``(mask logits N×2×H×W or None, class logits N×2 or None)``), a loss, a
preprocessed cohort and the indices of its training and validation parts. Paper defaults:
Adam, learning rate 1e-3, batch 8; a cosine schedule decays the rate. After every epoch the
validation part is scored with the same loss as training, plus AUC and median Dice; the
checkpoint kept is the one with the best validation loss (``select="loss"``) or AUC
(``select="auc"``), and early stopping ends the fit after ``patience`` epochs without
improvement. Mixed precision (bfloat16 autocast) on CUDA; under ``torchrun`` the model is
wrapped in DistributedDataParallel (gloo on CPU, nccl on CUDA) and rank 0 validates and writes.

With a :class:`ynet.runs.FoldFiles` the fit writes ``best.pt``, ``last.pt`` (at the end of
every epoch, with optimiser, scheduler, early-stopping state and every random generator, so
``resume`` after a kill continues exactly where an uninterrupted run would be), the history,
learning curves, the validation predictions and ``done.json``. Without one it keeps the best
weights in memory (the benchmark stores only predictions).

:func:`train` is what ``ynet train`` runs: k-fold cross-validation on the manifest's training
part, one :func:`fit_fold` per fold, into the run folder described in :mod:`ynet.runs`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from reportmine.core.arguments import check_real, check_whole
from reportmine.core.errors import InputError
from reportmine.core.outputs import (
    atomic_path,
    check_output_folder,
    check_targets,
    claim_folder,
    read_own_csv,
    write_csv,
    write_json_atomic,
)
from reportmine.core.provenance import versions
from reportmine.stats import auc_delong, dice

from .checkpoint import load_checkpoint, save_checkpoint
from .dataset import Augmentation, NodeDataset, PreparedCohort
from .device import Distributed, resolve_device, rng_state, seed_everything, set_rng_state
from .duplicates import duplicate_aware
from .infer import infer
from .limits import DICE_WEIGHT, DUPLICATE_THRESHOLD, IMAGE_SIZE_RANGE, WIDTH_RANGE
from .loss import JointLoss, balanced_class_weights
from .manifest import read_manifest
from .model import YNet, YNetConfig
from .preprocess import Preprocessing
from .runs import OOF, RUN_RECORD, SPLITS, SPLITS_HASH, FoldFiles, fold_files
from .splits import load_or_assign

log = logging.getLogger(__name__)

ModelBuilder = Callable[[], torch.nn.Module]
SELECTIONS = ("loss", "auc")


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "seg+cls"
    head: str = "global"  # global | mask (mask-guided pooling for the classification head)
    morphology: bool = False  # predicted-mask shape features for the classification head
    folds: int = 5
    fold: int | None = None  # train only this fold
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    seed: int = 0
    device: str = "auto"
    width: float = 1.0
    image_size: int = 256
    seg_weight: float = 1.0
    cls_weight: float = 1.0
    dice_weight: float = DICE_WEIGHT  # soft Dice added to the mask's cross-entropy (0: the paper's loss)
    class_balanced: bool = False  # inverse-frequency class weights in the classification loss
    select: str = "loss"  # keep the checkpoint with the best validation loss or AUC
    augment: bool = True
    test_fraction: float = 0.2
    exclude_labels: tuple[str, ...] = ()
    duplicate_threshold: float = DUPLICATE_THRESHOLD  # near-duplicate images share a split group (ynet.duplicates)
    drop_conflicts: bool = True  # leave out duplicate images that carry opposite labels
    max_train_seconds: float | None = None  # wall-clock cap on a fit's training epochs (None: none)
    num_workers: int = 0
    amp: bool = True  # mixed precision on CUDA
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {self.select!r}")
        _check_config(self)

    def to_dict(self) -> dict:
        """The record of this configuration; a float setting is written as a float whether it
        was given as 1 or 1.0, so equal settings give equal records (and resume/fit keys)."""
        d = asdict(self)
        d["exclude_labels"] = list(self.exclude_labels)
        for f in fields(self):
            if f.type == "float" and d[f.name] is not None:
                d[f.name] = float(d[f.name])
        return d


def _check_config(cfg: TrainConfig) -> None:
    """Every numeric setting checked at the edge (ValueError, one line): nothing trains on
    --epochs 0 or a --test-fraction of 1.5."""
    def whole(name, low, high=None):  # the CLIs' bounds and words (reportmine.core.arguments)
        check_whole(name.replace("_", " "), getattr(cfg, name), low, high)

    def real(name, low, high, open_low=False, open_high=False):
        check_real(name.replace("_", " "), getattr(cfg, name), low, high, open_low=open_low,
                   open_high=open_high)

    whole("epochs", 1)
    whole("patience", 1)
    whole("batch_size", 1)
    whole("folds", 2, 100)
    whole("num_workers", 0, 64)
    if cfg.fold is not None:
        whole("fold", 0, cfg.folds - 1)
    lo, hi = IMAGE_SIZE_RANGE
    whole("image_size", lo, hi)
    if cfg.image_size % 8:
        raise ValueError(f"image size must be a multiple of 8, got {cfg.image_size}")
    real("test_fraction", 0, 1, open_low=True, open_high=True)
    real("lr", 0, 10, open_low=True)
    real("weight_decay", 0, 1)
    real("width", *WIDTH_RANGE)
    real("duplicate_threshold", 0, 1, open_low=True, open_high=True)
    if cfg.max_train_seconds is not None:
        real("max_train_seconds", 0, float("inf"), open_low=True)
    for name in ("seg_weight", "cls_weight", "dice_weight"):
        real(name, 0, 100)


def ynet_config(cfg: TrainConfig) -> YNetConfig:
    return YNetConfig(variant=cfg.variant, width=cfg.width, head=cfg.head, morphology=cfg.morphology)


def ynet_builder(cfg: TrainConfig) -> ModelBuilder:
    """The Y-Net of ``cfg`` (variant, width, head options) as a model builder."""
    model_cfg = ynet_config(cfg)
    return lambda: YNet(model_cfg)


def loss_for(cfg: TrainConfig, train_labels: Sequence[int] = ()) -> JointLoss:
    """The loss ``cfg`` asks for; class weights come from the training labels."""
    weights = balanced_class_weights(train_labels) if cfg.class_balanced else None
    return JointLoss(cfg.seg_weight, cfg.cls_weight, cfg.dice_weight, class_weights=weights)


# ------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class Evaluation:
    """One pass over a part of the cohort: mean losses and per-image predictions, in loader order."""

    loss: float
    seg_loss: float
    cls_loss: float
    indices: np.ndarray  # cohort indices
    labels: np.ndarray  # 0 / 1, −1 where unknown
    probs: np.ndarray  # P(malignant); NaN for a model without a classification head
    dices: np.ndarray  # Dice of the predicted mask; NaN without a reference mask or a decoder

    @property
    def auc(self) -> float:
        known = (self.labels >= 0) & np.isfinite(self.probs)
        y = self.labels[known]
        if not ((y == 1).any() and (y == 0).any()):
            return float("nan")
        return auc_delong(y, self.probs[known]).auc

    @property
    def dice_median(self) -> float:
        d = self.dices[np.isfinite(self.dices)]
        return float(np.median(d)) if d.size else float("nan")

    def summary(self) -> str:
        return (f"{len(self.indices)} images: loss {self.loss:.4f}, AUC {self.auc:.3f}, "
                f"median Dice {self.dice_median:.3f}")


def evaluate(model: torch.nn.Module, loader, device: torch.device, loss_fn: JointLoss, *, amp: bool = False,
             tta: bool = False) -> Evaluation:
    """Score ``loader`` with ``model``; ``tta`` averages the softmax of the image and its
    horizontal mirror (the loss is that of the plain image, as in training)."""
    model.eval()
    sums, n = np.zeros(3), 0
    probs, labels, indices, dices = [], [], [], []
    with torch.no_grad():
        for image, mask, label, index in loader:
            image, mask, label = image.to(device), mask.to(device), label.to(device)
            out = infer(model, image, tta=tta, amp=amp)
            parts = loss_fn(out.seg_logits, out.cls_logits, mask, label)
            seg_p, cls_p = out.seg_prob, out.cls_prob
            b = image.shape[0]
            sums += np.array([float(parts.total), float(parts.segmentation), float(parts.classification)]) * b
            n += b
            probs.extend(cls_p.cpu().tolist() if cls_p is not None else [float("nan")] * b)
            labels.extend(label.cpu().tolist())
            indices.extend(index.tolist())
            refs = mask.cpu().numpy()
            preds = (seg_p >= 0.5).cpu().numpy() if seg_p is not None else [None] * b
            for p, m in zip(preds, refs):
                dices.append(dice(p, m) if p is not None and (m >= 0).all() else float("nan"))
    return Evaluation(float(sums[0] / n), float(sums[1] / n), float(sums[2] / n), np.array(indices),
                      np.array(labels), np.array(probs, dtype=float), np.array(dices, dtype=float))


# ------------------------------------------------------------------ the fold trainer


@dataclass(frozen=True)
class FoldFit:
    """A finished fit: the chosen model (eval mode) and what its training recorded."""

    model: torch.nn.Module
    fold: int
    best_epoch: int  # 1-based
    best_val_loss: float
    val_auc: float
    val_dice_median: float
    epochs_run: int
    history: tuple[dict, ...]
    train_seconds: float
    train_images: int
    peak_gpu_mb: float | None
    capped: bool = False  # stopped by ``max_train_seconds``, not by early stopping or the epoch limit

    @property
    def train_images_per_s(self) -> float:
        return self.train_images / self.train_seconds if self.train_seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {"fold": self.fold, "best_val_loss": self.best_val_loss, "epochs_run": self.epochs_run,
                "epoch": self.best_epoch, "val_auc": self.val_auc, "val_dice_median": self.val_dice_median,
                "train_seconds": self.train_seconds, "train_images": self.train_images,
                "train_images_per_s": self.train_images_per_s, "peak_gpu_mb": self.peak_gpu_mb,
                "capped": self.capped}

    def summary(self) -> str:
        return (f"fold {self.fold}: best epoch {self.best_epoch} of {self.epochs_run}, validation loss "
                f"{self.best_val_loss:.4f}, AUC {self.val_auc:.3f}, median Dice {self.val_dice_median:.3f}; "
                f"{self.train_images_per_s:.1f} training images/s")


def _better(select: str, row: dict, best: dict | None) -> bool:
    """Is this epoch better than the best so far? AUC first when selecting on AUC (a model
    without a classification head has none), the validation loss otherwise and on ties."""
    if best is None:
        return True
    if select == "auc":
        new, old = row["val_auc"], best["val_auc"]
        if np.isfinite(new) and (not np.isfinite(old) or new > old):
            return True
        if np.isfinite(old) and (not np.isfinite(new) or new < old):
            return False
    return row["val_loss"] < best["val_loss"]


def _plot_history(history: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    axes[1].plot(epochs, [h["val_auc"] for h in history], label="validation AUC")
    axes[1].plot(epochs, [h["val_dice_median"] for h in history], label="validation Dice (median)")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylim(0, 1)
    axes[1].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _write_table(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:  # ids are data: formula-escaped, read back by read_own_csv
        write_csv(tmp, frame)


def oof_table(cohort: PreparedCohort, ev: Evaluation) -> pd.DataFrame:
    """Validation (out-of-fold) predictions: ln_id, label, prob_malignant, dice."""
    return pd.DataFrame({"ln_id": [cohort.nodes[i].id for i in ev.indices], "label": ev.labels,
                         "prob_malignant": ev.probs, "dice": ev.dices})


def train_step(net: torch.nn.Module, loss_fn: JointLoss, optimizer: torch.optim.Optimizer, image: torch.Tensor,
               mask: torch.Tensor, label: torch.Tensor, *, amp: bool = False):
    """One optimiser step on one batch (bf16 autocast with ``amp``); the loss parts."""
    with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=amp):
        seg, cls = net(image)
    parts = loss_fn(seg.float() if seg is not None else None, cls.float() if cls is not None else None, mask, label)
    optimizer.zero_grad(set_to_none=True)
    parts.total.backward()
    optimizer.step()
    return parts


def fit_fold(build_model: ModelBuilder, cohort: PreparedCohort, train_idx: Sequence[int], val_idx: Sequence[int],
             cfg: TrainConfig, *, fold: int = 0, loss_fn: JointLoss | None = None, files: FoldFiles | None = None,
             meta: dict | None = None, resume: bool = False, progress: bool = False,
             on_batch: Callable[[int, int], None] | None = None) -> FoldFit:
    """Fit one model on ``train_idx``, choosing its epoch on ``val_idx`` (see the module doc).

    The random state is seeded from ``cfg.seed + fold`` before the model is built, so the same
    builder, cohort indices, configuration and fold give the same model. ``on_batch(epoch,
    step)`` is a test hook (raise in it to simulate a kill)."""
    from tqdm import tqdm

    device = resolve_device(cfg.device)
    ddp = Distributed.from_env(device)
    meta = dict(meta or {})
    if loss_fn is None:
        loss_fn = loss_for(cfg, [cohort.nodes[i].label for i in train_idx])
    loss_fn = loss_fn.to(device)
    if files is not None:
        files.dir.mkdir(parents=True, exist_ok=True)
        if resume and files.done.exists():
            return _finished(build_model, files, fold, device)

    seed_everything(cfg.seed + fold)
    model = build_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1), eta_min=cfg.lr * 0.01)
    train_set = NodeDataset(cohort, train_idx, Augmentation() if cfg.augment else None, seed=cfg.seed + fold)
    val_loader = torch.utils.data.DataLoader(NodeDataset(cohort, val_idx), batch_size=cfg.batch_size * 2,
                                             shuffle=False, num_workers=cfg.num_workers)
    start_epoch, bad_epochs, history, best_row, best_state = 0, 0, [], None, None
    meta |= {"train_config": cfg.to_dict(), "preprocessing": cohort.preprocessing.to_dict(), "fold": fold,
             "seed": cfg.seed}
    if resume and files is not None and files.last.exists():
        state = load_checkpoint(files.last, map_location=device)
        if state.get("manifest_sha256") != meta.get("manifest_sha256"):
            raise ValueError(f"{files.last}: made for another manifest; cannot resume")
        _check_resumable(files.last, state.get("train_config"), cfg)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, bad_epochs, history = state["epoch"] + 1, state["bad_epochs"], list(state["history"])
        best_row = state.get("best_row")
        if files.best.exists():
            best_state = load_checkpoint(files.best, map_location=device)["state_dict"]
        set_rng_state(state["rng"])
        log.info("fold %d: resumed after epoch %d", fold, state["epoch"])
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp.world > 1 else model
    amp = cfg.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    capped = False
    for epoch in range(start_epoch, cfg.epochs):
        if bad_epochs >= cfg.patience:
            break
        if cfg.max_train_seconds is not None and sum(h["seconds"] for h in history) >= cfg.max_train_seconds:
            capped = True  # the same wall-clock cap for every model; the fit says it was stopped by it
            log.info("fold %d: stopped by the training-time cap after epoch %d", fold, epoch)
            break
        train_set.set_epoch(epoch)
        drop_last = len(train_set) > cfg.batch_size
        if ddp.world > 1:
            sampler = torch.utils.data.distributed.DistributedSampler(train_set, ddp.world, ddp.rank, shuffle=True,
                                                                      seed=cfg.seed + fold)
            sampler.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler,
                                                 num_workers=cfg.num_workers, drop_last=drop_last)
        else:
            gen = torch.Generator().manual_seed(cfg.seed * 7919 + fold * 104_729 + epoch)
            loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                                 num_workers=cfg.num_workers, drop_last=drop_last)
        net.train()
        started = time.perf_counter()
        sums, seen = np.zeros(3), 0
        bar = tqdm(loader, desc=f"fold {fold} epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (progress and ddp.main) or None)
        for step, (image, mask, label, _) in enumerate(bar):
            if on_batch is not None:
                on_batch(epoch, step)
            image, mask, label = image.to(device), mask.to(device), label.to(device)
            parts = train_step(net, loss_fn, optimizer, image, mask, label, amp=amp)
            b = image.shape[0]
            sums += np.array([parts.total.item(), parts.segmentation.item(), parts.classification.item()]) * b
            seen += b
        scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        ddp.barrier()
        if ddp.main:
            ev = evaluate(model, val_loader, device, loss_fn, amp=cfg.amp)
            row = {"epoch": epoch + 1, "train_loss": float(sums[0] / seen), "train_seg_loss": float(sums[1] / seen),
                   "train_cls_loss": float(sums[2] / seen), "val_loss": ev.loss, "val_seg_loss": ev.seg_loss,
                   "val_cls_loss": ev.cls_loss, "val_auc": ev.auc, "val_dice_median": ev.dice_median,
                   "lr": optimizer.param_groups[0]["lr"], "seconds": elapsed, "train_images": seen * ddp.world,
                   "train_images_per_s": seen * ddp.world / elapsed}
            history.append(row)
            if _better(cfg.select, row, best_row):
                best_row, bad_epochs = row, 0
                best_state = copy.deepcopy(model.state_dict())
                if files is not None:
                    save_checkpoint(files.best, model, meta | {"epoch": epoch, "metrics": row})
                    _write_table(files.oof, oof_table(cohort, ev))
            else:
                bad_epochs += 1
            if files is not None:
                save_checkpoint(files.last, model, meta | {
                    "epoch": epoch, "metrics": row, "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "best_row": best_row, "bad_epochs": bad_epochs,
                    "history": history, "rng": rng_state()})
                _write_table(files.history_csv, pd.DataFrame(history))
                write_json_atomic(files.history_json, history)
            log.info("fold %d epoch %d: train %.4f val %.4f AUC %.3f Dice %.3f (%.1f img/s)", fold, epoch + 1,
                     row["train_loss"], row["val_loss"], row["val_auc"], row["val_dice_median"],
                     row["train_images_per_s"])
        if ddp.world > 1:
            flags = torch.tensor([bad_epochs], dtype=torch.long)
            dist.broadcast(flags, 0)
            bad_epochs = int(flags[0])
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    best_row = best_row or {}
    fit = FoldFit(model, fold, int(best_row.get("epoch", 0)), float(best_row.get("val_loss", float("nan"))),
                  float(best_row.get("val_auc", float("nan"))), float(best_row.get("val_dice_median", float("nan"))),
                  len(history), tuple(history), float(sum(h["seconds"] for h in history)),
                  int(sum(h["train_images"] for h in history)),
                  torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None, capped)
    if ddp.main and files is not None:
        if history:
            _plot_history(history, files.curves)
        write_json_atomic(files.done, fit.to_dict())
    ddp.barrier()
    return fit


def _finished(build_model: ModelBuilder, files: FoldFiles, fold: int, device: torch.device) -> FoldFit:
    """A fold that ``done.json`` says is finished, its best model loaded back."""
    import json

    done = json.loads(files.done.read_text(encoding="utf-8"))
    model = build_model().to(device)
    if files.best.exists():
        model.load_state_dict(load_checkpoint(files.best, map_location=device)["state_dict"])
    model.eval()
    history = tuple(json.loads(files.history_json.read_text(encoding="utf-8"))) if files.history_json.exists() else ()

    def number(key):
        value = done.get(key)
        return float("nan") if value is None else float(value)

    return FoldFit(model, fold, int(done.get("epoch") or 0), number("best_val_loss"), number("val_auc"),
                   number("val_dice_median"), int(done.get("epochs_run") or 0), history,
                   number("train_seconds"), int(done.get("train_images") or 0), done.get("peak_gpu_mb"),
                   bool(done.get("capped")))


# ------------------------------------------------------------------ `ynet train`


# Settings that may differ when a run is resumed (where it runs, not what it computes).
RESUME_MAY_CHANGE = frozenset({"device", "num_workers", "fold", "amp"})
# How a setting is named in a message, where not `ynet train`'s --<name with dashes>.
_OPTION_NAMES = {"augment": "--no-augment", "exclude_labels": "--exclude-label",
                 **{key: f"setting {key}" for key in ("weight_decay", "seg_weight", "cls_weight", "extra")}}


def _check_resumable(path: Path, saved: dict | None, cfg: TrainConfig) -> None:
    """Refuse (one line) to resume a run made with other model or training settings: its
    weights would not fit the model, or the run would not be the one it continues. A setting
    the saved run predates counts as its default."""
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: without its training settings; cannot resume")
    defaults = TrainConfig().to_dict()
    now = cfg.to_dict()
    for key in sorted(now):
        if key in RESUME_MAY_CHANGE:
            continue
        before = saved.get(key, defaults[key])
        if before != now[key]:
            option = _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
            raise ValueError(f"{path}: made with {option} {before!r}, now {now[key]!r}; cannot resume "
                             "(use the run's settings, or a new --out)")


TRAIN_COMMAND = "ynet train"  # the command named in the run folder's marker


def train(manifest_path: str | Path, run_dir: str | Path, cfg: TrainConfig, *, resume: bool = False,
          progress: bool = True, on_batch=None) -> dict:
    """Train every fold (or ``cfg.fold``) and write the run folder; returns a summary."""
    run_dir = Path(run_dir)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: exists and is not a folder; give a run folder")
    if main_process and (run_dir / RUN_RECORD).exists() and not resume:
        raise ValueError(f"{run_dir}: holds a previous run; pass --resume to continue it or choose a new --out")
    if resume and (run_dir / RUN_RECORD).exists():  # checked before run.json is written again
        try:
            record = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{run_dir / RUN_RECORD}: unreadable run record ({type(exc).__name__})") from exc
        _check_resumable(run_dir / RUN_RECORD, record.get("train_config") if isinstance(record, dict) else None,
                         cfg)
    resolve_device(cfg.device)  # no CUDA: refused before anything is written
    manifest, duplicates = duplicate_aware(read_manifest(manifest_path, exclude_labels=cfg.exclude_labels),
                                           cfg.duplicate_threshold, drop_conflicts=cfg.drop_conflicts)
    labels = {n.label for n in manifest.nodes}
    if len(labels) < 2:
        raise InputError(f"{manifest.path}: every row is {'malignant' if 1 in labels else 'benign'}; "
                         "training needs both classes")
    inputs = [manifest.path, *(p for n in manifest.nodes for p in (n.image, *n.masks))]
    check_targets([run_dir / name for name in (RUN_RECORD, SPLITS, SPLITS_HASH, OOF)], inputs)
    if main_process:  # never the home folder, /, a folder of inputs or one holding the user's files
        check_output_folder(run_dir, TRAIN_COMMAND, inputs=inputs, force=True,
                            existing_ok=resume and (run_dir / RUN_RECORD).exists())
    with _removed_on_early_failure(run_dir, enabled=main_process):
        return _train(manifest, run_dir, cfg, resume=resume, progress=progress, on_batch=on_batch,
                      main_process=main_process, duplicates=duplicates)


@contextlib.contextmanager
def _removed_on_early_failure(run_dir: Path, *, enabled: bool):
    """A run that fails before its first checkpoint leaves nothing that would block the same
    command run again ("holds a previous run", "splits made for another manifest"): whatever
    this call created is removed, the run folder too if this call made it."""
    existed = run_dir.exists()
    made = [p for p in [run_dir, *run_dir.parents] if not p.exists()]
    before = set(run_dir.rglob("*")) if existed else set()
    try:
        yield
    except BaseException:
        created = set(run_dir.rglob("*")) - before if run_dir.exists() else set()
        if enabled and not any(p.suffix == ".pt" for p in created):
            if not existed:
                shutil.rmtree(run_dir, ignore_errors=True)
                for parent in made[1:]:
                    with contextlib.suppress(OSError):
                        parent.rmdir()
            else:
                for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        raise


def _train(manifest, run_dir: Path, cfg: TrainConfig, *, resume: bool, progress: bool, on_batch,
           main_process: bool, duplicates: dict) -> dict:
    if main_process:  # marked as ours before the first file, so a killed run stays recognisable
        claim_folder(run_dir, TRAIN_COMMAND)
    run_dir.mkdir(parents=True, exist_ok=True)
    splits = load_or_assign(manifest, run_dir, folds=cfg.folds, test_fraction=cfg.test_fraction, seed=cfg.seed,
                            write=main_process)
    if cfg.fold is not None and not 0 <= cfg.fold < cfg.folds:
        raise ValueError(f"--fold {cfg.fold} is outside 0…{cfg.folds - 1}")
    prep = Preprocessing(size=cfg.image_size)
    wanted = set(splits.loc[splits["split"] == "train", "id"])
    nodes = [n for n in manifest.nodes if n.id in wanted]
    if len({n.label for n in nodes}) < 2:
        raise InputError(f"{manifest.path}: the training part holds one class only; training needs both")
    cohort = PreparedCohort(nodes, prep, need_masks=False)  # nodes without a mask train the classifier only
    if main_process:
        write_json_atomic(run_dir / RUN_RECORD, {
            "manifest": str(manifest.path), "manifest_sha256": manifest.sha256, "train_config": cfg.to_dict(),
            "preprocessing": prep.to_dict(), "versions": versions(), "excluded_rows": manifest.excluded,
            "duplicates": duplicates,
            "n_train": len(nodes), "n_test": int((splits["split"] == "test").sum())})
    index = {n.id: i for i, n in enumerate(cohort.nodes)}
    build = ynet_builder(cfg)
    meta = {"config": ynet_config(cfg).to_dict(),
            "manifest_sha256": manifest.sha256, "manifest": str(manifest.path)}
    folds = [cfg.fold] if cfg.fold is not None else list(range(cfg.folds))
    results = []
    for k in folds:
        train_idx = [index[i] for i in splits.loc[(splits["split"] == "train") & (splits["fold"] != k), "id"]]
        val_idx = [index[i] for i in splits.loc[splits["fold"] == k, "id"]]
        fit = fit_fold(build, cohort, train_idx, val_idx, cfg, fold=k, files=fold_files(run_dir, k), meta=meta,
                       resume=resume, progress=progress, on_batch=on_batch)
        results.append({key: (None if isinstance(v, float) and not np.isfinite(v) else v)
                        for key, v in fit.to_dict().items()})
    if main_process:
        oof = [read_own_csv(fold_files(run_dir, k).oof) for k in folds if fold_files(run_dir, k).oof.exists()]
        if oof:
            _write_table(run_dir / OOF, pd.concat(oof))
    return {"run_dir": str(run_dir), "folds": results}
