"""Training: k-fold cross-validation on the training part, best checkpoint per fold.

Paper defaults: Adam, learning rate 1e-3, batch 8. A cosine schedule decays the rate;
early stopping watches the validation loss. Per fold the run folder gets::

    fold_K/best.pt  fold_K/last.pt  fold_K/history.csv  fold_K/history.json
    fold_K/learning_curves.png  fold_K/oof_predictions.csv  fold_K/done.json
    splits.csv  run.json

``last.pt`` is written at the end of every epoch with the optimiser, scheduler, early-stopping
state and every random generator, so ``--resume`` after a kill continues exactly where an
uninterrupted run would be. Under ``torchrun`` (several processes) the model is wrapped in
DistributedDataParallel (gloo on CPU, nccl on CUDA); rank 0 validates and writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from .checkpoint import load_checkpoint, save_checkpoint
from .dataset import Augmentation, NodeDataset, PreparedCohort
from .device import Distributed, resolve_device, rng_state, seed_everything, set_rng_state
from .loss import JointLoss
from .manifest import Manifest, read_manifest
from .model import YNet, YNetConfig
from .preprocess import Preprocessing
from .runs import OOF, RUN_RECORD, fold_files
from .splits import load_or_assign

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "seg+cls"
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
    dice_weight: float = 0.0
    augment: bool = True
    test_fraction: float = 0.2
    exclude_labels: tuple[str, ...] = ()
    num_workers: int = 0
    amp: bool = True  # mixed precision on CUDA
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["exclude_labels"] = list(self.exclude_labels)
        return d


def _scores(model: YNet, loader, device, amp: bool) -> dict:
    """Validation: mean losses, per-image Dice (empty-empty → 1) and malignancy probabilities."""
    from reportmine.stats import auc_delong, dice

    model.eval()
    loss_fn = JointLoss()
    total, seg_sum, cls_sum, n = 0.0, 0.0, 0.0, 0
    probs, labels, indices, dices = [], [], [], []
    with torch.no_grad():
        for image, mask, label, index in loader:
            image, mask, label = image.to(device), mask.to(device), label.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                seg, cls = model(image)
            parts = loss_fn(seg.float() if seg is not None else None, cls.float(), mask, label)
            b = image.shape[0]
            total += float(parts.total) * b
            seg_sum += float(parts.segmentation) * b
            cls_sum += float(parts.classification) * b
            n += b
            probs.extend(cls.float().softmax(1)[:, 1].cpu().tolist())
            labels.extend(label.cpu().tolist())
            indices.extend(index.tolist())
            if seg is not None:
                pred = seg.argmax(1).cpu().numpy()
                for p, m in zip(pred, mask.cpu().numpy()):
                    if (m >= 0).all():
                        dices.append(dice(p, m))
    y = np.array(labels)
    auc = float("nan")
    if (y == 1).any() and (y == 0).any():
        auc = auc_delong(y, np.array(probs)).auc
    return {"loss": total / n, "seg_loss": seg_sum / n, "cls_loss": cls_sum / n, "auc": auc,
            "dice_median": float(np.median(dices)) if dices else float("nan"),
            "probs": probs, "labels": labels, "indices": indices, "dices": dices}


def _plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("joint loss")
    axes[0].legend()
    axes[1].plot(epochs, [h["val_auc"] for h in history], label="validation AUC")
    axes[1].plot(epochs, [h["val_dice_median"] for h in history], label="validation Dice (median)")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylim(0, 1)
    axes[1].legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def _write_json(path: Path, payload) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def train_fold(cohort: PreparedCohort, splits: pd.DataFrame, fold: int, cfg: TrainConfig, run_dir: Path,
               manifest: Manifest, *, resume: bool = False, progress: bool = True,
               on_batch: Callable[[int, int], None] | None = None) -> dict:
    """Train one fold; returns its best validation metrics. ``on_batch(epoch, step)`` is a test hook."""
    from tqdm import tqdm

    device = resolve_device(cfg.device)
    ddp = Distributed.from_env(device)
    files = fold_files(run_dir, fold)
    files.dir.mkdir(parents=True, exist_ok=True)
    if files.done.exists() and resume:
        return json.loads(files.done.read_text())
    id_to_index = {n.id: i for i, n in enumerate(cohort.nodes)}
    train_idx = [id_to_index[i] for i in splits.loc[(splits["split"] == "train") & (splits["fold"] != fold), "id"]]
    val_idx = [id_to_index[i] for i in splits.loc[splits["fold"] == fold, "id"]]

    seed_everything(cfg.seed + fold)
    model_cfg = YNetConfig(variant=cfg.variant, width=cfg.width)
    model = YNet(model_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1), eta_min=cfg.lr * 0.01)
    loss_fn = JointLoss(cfg.seg_weight, cfg.cls_weight, cfg.dice_weight)
    train_set = NodeDataset(cohort, train_idx, Augmentation() if cfg.augment else None, seed=cfg.seed + fold)
    val_set = NodeDataset(cohort, val_idx)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=cfg.batch_size * 2, shuffle=False,
                                             num_workers=cfg.num_workers)
    start_epoch, best, bad_epochs, history = 0, math.inf, 0, []
    meta = {"config": model_cfg.to_dict(), "train_config": cfg.to_dict(),
            "preprocessing": cohort.preprocessing.to_dict(), "manifest_sha256": manifest.sha256,
            "manifest": str(manifest.path), "fold": fold, "seed": cfg.seed}
    if resume and (files.last).exists():
        state = load_checkpoint(files.last, map_location=device)
        if state["manifest_sha256"] != manifest.sha256:
            raise ValueError(f"{files.last}: made for another manifest; cannot resume")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, bad_epochs = state["epoch"] + 1, state["best"], state["bad_epochs"]
        history = state["history"]
        set_rng_state(state["rng"])
        log.info("fold %d: resumed after epoch %d", fold, state["epoch"])
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp.world > 1 else model
    amp = cfg.amp and device.type == "cuda"

    for epoch in range(start_epoch, cfg.epochs):
        if bad_epochs >= cfg.patience:
            break
        train_set.set_epoch(epoch)
        gen = torch.Generator().manual_seed(cfg.seed * 7919 + fold * 104_729 + epoch)
        if ddp.world > 1:
            sampler = torch.utils.data.distributed.DistributedSampler(train_set, ddp.world, ddp.rank, shuffle=True,
                                                                      seed=cfg.seed + fold)
            sampler.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler,
                                                 num_workers=cfg.num_workers, drop_last=len(train_set) > cfg.batch_size)
        else:
            loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                                 num_workers=cfg.num_workers, drop_last=len(train_set) > cfg.batch_size)
        net.train()
        started = time.perf_counter()
        sums = np.zeros(3)
        seen = 0
        bar = tqdm(loader, desc=f"fold {fold} epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (progress and ddp.main) or None)
        for step, (image, mask, label, _) in enumerate(bar):
            if on_batch is not None:
                on_batch(epoch, step)
            image, mask, label = image.to(device), mask.to(device), label.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                seg, cls = net(image)
            parts = loss_fn(seg.float() if seg is not None else None, cls.float(), mask, label)
            optimizer.zero_grad(set_to_none=True)
            parts.total.backward()
            optimizer.step()
            b = image.shape[0]
            sums += np.array([parts.total.item(), parts.segmentation.item(), parts.classification.item()]) * b
            seen += b
        scheduler.step()
        elapsed = time.perf_counter() - started
        ddp.barrier()
        if ddp.main:
            scores = _scores(model, val_loader, device, cfg.amp)
            row = {"epoch": epoch + 1, "train_loss": float(sums[0] / seen), "train_seg_loss": float(sums[1] / seen),
                   "train_cls_loss": float(sums[2] / seen), "val_loss": scores["loss"], "val_seg_loss": scores["seg_loss"],
                   "val_cls_loss": scores["cls_loss"], "val_auc": scores["auc"],
                   "val_dice_median": scores["dice_median"], "lr": optimizer.param_groups[0]["lr"],
                   "seconds": elapsed, "train_images_per_s": seen * ddp.world / elapsed}
            history.append(row)
            if scores["loss"] < best:
                best, bad_epochs = scores["loss"], 0
                save_checkpoint(files.best, model, meta | {"epoch": epoch, "metrics": row})
                _write_oof(files.oof, cohort, scores)
            else:
                bad_epochs += 1
            save_checkpoint(files.last, model, meta | {
                "epoch": epoch, "metrics": row, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "best": best, "bad_epochs": bad_epochs, "history": history, "rng": rng_state()})
            pd.DataFrame(history).to_csv(files.history_csv, index=False)
            _write_json(files.history_json, history)
            log.info("fold %d epoch %d: train %.4f val %.4f AUC %.3f Dice %.3f (%.1f img/s)", fold, epoch + 1,
                     row["train_loss"], row["val_loss"], row["val_auc"], row["val_dice_median"],
                     row["train_images_per_s"])
        if ddp.world > 1:
            flags = torch.tensor([bad_epochs], dtype=torch.long)
            dist.broadcast(flags, 0)
            bad_epochs = int(flags[0])
    result = {"fold": fold, "best_val_loss": best, "epochs_run": len(history)}
    if ddp.main:
        best_row = min(history, key=lambda h: h["val_loss"]) if history else {}
        result.update({k: best_row.get(k) for k in ("val_auc", "val_dice_median", "epoch")})
        _plot_history(history, files.curves)
        _write_json(files.done, result)
    ddp.barrier()
    return result


def _write_oof(path: Path, cohort: PreparedCohort, scores: dict) -> None:
    rows = []
    dices = iter(scores["dices"])
    for idx, prob, label in zip(scores["indices"], scores["probs"], scores["labels"]):
        node = cohort.nodes[idx]
        rows.append({"ln_id": node.id, "label": label, "prob_malignant": prob,
                     "dice": next(dices, float("nan")) if cohort.items[idx].mask is not None else float("nan")})
    frame = pd.DataFrame(rows)
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def train(manifest_path: str | Path, run_dir: str | Path, cfg: TrainConfig, *, resume: bool = False,
          progress: bool = True, on_batch=None) -> dict:
    """Train every fold (or ``cfg.fold``) and write the run folder; returns a summary."""
    from reportmine.core.provenance import versions

    run_dir = Path(run_dir)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if main_process and (run_dir / RUN_RECORD).exists() and not resume:
        raise ValueError(f"{run_dir}: holds a previous run; pass --resume to continue it or choose a new --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(manifest_path, exclude_labels=cfg.exclude_labels)
    splits = load_or_assign(manifest, run_dir, folds=cfg.folds, test_fraction=cfg.test_fraction, seed=cfg.seed,
                            write=main_process)
    if cfg.fold is not None and not 0 <= cfg.fold < cfg.folds:
        raise ValueError(f"--fold {cfg.fold} is outside 0…{cfg.folds - 1}")
    prep = Preprocessing(size=cfg.image_size)
    needed = splits.loc[splits["split"] == "train", "id"]
    wanted = set(needed)
    nodes = [n for n in manifest.nodes if n.id in wanted]
    cohort = PreparedCohort(nodes, prep, need_masks=False)  # nodes without a mask train the classifier only
    if main_process:
        _write_json(run_dir / RUN_RECORD, {"manifest": str(manifest.path), "manifest_sha256": manifest.sha256,
                                           "train_config": cfg.to_dict(), "preprocessing": prep.to_dict(),
                                           "versions": versions(), "excluded_rows": manifest.excluded,
                                           "n_train": len(nodes), "n_test": int((splits["split"] == "test").sum())})
    folds = [cfg.fold] if cfg.fold is not None else list(range(cfg.folds))
    results = [train_fold(cohort, splits, k, cfg, run_dir, manifest, resume=resume, progress=progress,
                          on_batch=on_batch) for k in folds]
    if main_process:
        oof = [pd.read_csv(fold_files(run_dir, k).oof) for k in folds if fold_files(run_dir, k).oof.exists()]
        if oof:
            pd.concat(oof).to_csv(run_dir / OOF, index=False)
    return {"run_dir": str(run_dir), "folds": results}
