"""Y-Net against segmentation peers, cross-validated over the whole labeled cohort.

    python -m ynet.benchmark --data DIR --name NAME [--folds 5] [--epochs 50] [--patience 10]
        [--models ynet,ynet_cls_only,smp_unet_r34,monai_unet] [--workers N | --scheduler ADDRESS]
        [--device cuda] [--out reports/benchmarks]

Protocol. The labeled cohort (``DIR/manifest.csv``; ``normal`` rows excluded by default) is
first searched for exact and near-duplicate images (:mod:`ynet.duplicates`): duplicates share
a split group with the manifest's own groups (``split_group``, else patient), and duplicate
clusters whose images carry opposite labels are excluded (``--keep-conflicts`` keeps them).
The cohort is then cut into ``--folds`` outer folds, stratified by label and grouped, and
each training part again into an inner training and an inner validation part
(:func:`ynet.splits.nested_cv_assignment`). Every model is fitted by the one trainer
(:func:`ynet.train.fit_fold`, the code ``ynet train`` runs) on the inner training part, with
the same preprocessing, augmentation, optimiser (Adam, lr 1e-3, batch 8, cosine schedule over
the epoch limit) and loss (cross-entropy for the class, cross-entropy plus ``--dice-weight`` ×
soft Dice for the mask); it trains until the inner-validation loss has not improved for
``--patience`` epochs (at most ``--epochs``), the best epoch is restored, and it predicts
the held-out fold. ``--max-fit-minutes`` caps the training time of every fit alike (a capped
fit says so). Every image gets exactly one out-of-fold prediction per model.

Statistics (:mod:`ynet.benchmark_report`) count groups, not images: clustered AUC and paired
AUC differences (Obuchowski), Dice mean and median with cluster-bootstrap CIs, paired Dice
differences, and fold-stratified AUCs as a sensitivity analysis. Inference is timed in
interleaved rounds (:mod:`ynet.timing`). Learning curves of every fit are drawn in
``NAME_cv/learning_curves.png``.

Resumable at two levels: a finished (model, fold) fit is saved as
``OUT/NAME_cv/fits/MODEL_foldK.json`` (predictions, per-image Dice, history; no weights), and
an unfinished fit keeps its last finished epoch under ``--work-dir`` (model, optimiser,
schedule, early-stopping state, random generators; by default in the user's cache folder,
outside the checkout, so that a fresh clone on the same machine finds it too), so that a
killed fit continues from that epoch; the folder is removed once the fit is saved. ``--max-fits N`` stops after N new fits; ``--status`` prints where the run
stands. Fits run one at a time in worker processes by default; ``--workers N`` runs N at once
on this machine and ``--scheduler ADDRESS`` sends them to a Dask cluster (its workers must see
the same ``--data`` and ``--out`` paths). ``--inner-only`` (an option round) writes inner
validation only and marks the folder (``NAME_cv/INNER_ONLY``). Each fit records how much CPU
other processes used while it ran (Linux): a fit that shared the machine is marked.

The peers need ``segmentation_models_pytorch`` and ``monai`` (:mod:`ynet.peers`); they pull
in torchvision, so give the benchmark its own environment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reportmine.core.arguments import ArgumentParser, add_seed, parse_command_line, real, whole
from reportmine.core.errors import EXIT_BAD_INPUT, InputError, run_command
from reportmine.core.outputs import write_csv_atomic, write_json_atomic, write_text_atomic
from reportmine.core.provenance import versions

from .benchmark_report import (
    INNER_ONLY_MARKER,
    MODEL_KEYS,
    PAIRED_KEYS,
    markdown,
    oof_predictions,
    paired_statistics,
    plot_learning_curves,
    progress_markdown,
    summarize,
)
from .dataset import NodeDataset, PreparedCohort
from .device import hardware, resolve_device
from .duplicates import find_duplicates, regroup
from .images import DataError
from .limits import DUPLICATE_THRESHOLD, image_size, width
from .manifest import Manifest, read_manifest
from .model import YNet, YNetConfig
from .peers import MODELS, NAMES, PEERS, YNET_MODELS
from .preprocess import Preprocessing
from .runs import FoldFiles
from .splits import nested_cv_assignment
from .timing import machine_busy_seconds, time_inference, time_training
from .train import FoldFit, ModelBuilder, TrainConfig, evaluate, fit_fold, loss_for

log = logging.getLogger(__name__)

MAX_EPOCHS = 50  # the epoch limit of every fit; early stopping ends most fits well before it
PATIENCE = 10  # epochs without a better inner-validation loss before a fit stops


def builder(name: str, settings: Settings) -> ModelBuilder:
    """The model builder of a benchmark model (peers import their packages only when built)."""
    if name in YNET_MODELS:
        cfg = settings.train_config(name)
        model_cfg = YNetConfig(variant=cfg.variant, width=cfg.width, head=cfg.head, morphology=cfg.morphology)
        return lambda: YNet(model_cfg)
    if name in PEERS:
        return PEERS[name]
    raise InputError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


# ------------------------------------------------------------------ settings and folds


@dataclass(frozen=True)
class Settings:
    """Everything a fit depends on; one budget for every model."""

    folds: int = 5
    epochs: int = MAX_EPOCHS  # the limit; early stopping decides the length of each fit
    batch_size: int = 8
    lr: float = 1e-3
    patience: int | None = PATIENCE  # None: no early stopping (patience = epochs)
    image_size: int = 256
    seed: int = 0
    device: str = "cpu"
    exclude_labels: tuple[str, ...] = ("normal",)
    dice_weight: float = TrainConfig.dice_weight  # the soft Dice term of every model's mask loss
    duplicate_threshold: float = DUPLICATE_THRESHOLD
    keep_conflicts: bool = False
    max_fit_minutes: float | None = None  # one wall-clock cap on the training epochs of every fit
    ynet_width: float = 1.0
    ynet_tta: str = "off"  # off | on | auto (decided on the inner validation part)
    ynet_class_balanced: bool = False
    ynet_select: str = "loss"  # loss | auc
    ynet_head: str = "global"  # global | mask (seg+cls Y-Net only)
    ynet_morphology: bool = False  # seg+cls Y-Net only
    ynet_cls_weight: float = 1.0  # the class term's weight in seg+cls Y-Net's joint loss
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise InputError(f"--folds must be at least 2, got {self.folds}")
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.ynet_tta not in ("off", "on", "auto"):
            raise InputError(f"--ynet-tta must be off, on or auto, got {self.ynet_tta!r}")
        if not 0 < self.ynet_cls_weight <= 10:
            raise InputError(f"--ynet-cls-weight must be in (0, 10], got {self.ynet_cls_weight!r}")

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
                           cls_weight=self.ynet_cls_weight if name == "ynet" else 1.0,
                           dice_weight=0.0 if name == "ynet_cls_only" else self.dice_weight,
                           duplicate_threshold=self.duplicate_threshold, drop_conflicts=not self.keep_conflicts,
                           max_train_seconds=None if self.max_fit_minutes is None else self.max_fit_minutes * 60)

    def tta(self, name: str) -> str:
        return self.ynet_tta if name in YNET_MODELS else "off"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["exclude_labels"] = list(self.exclude_labels)
        return d

    @classmethod
    def from_dict(cls, raw: dict) -> Settings:
        return cls(**(raw | {"exclude_labels": tuple(raw["exclude_labels"])}))

    def key(self, name: str, manifest_sha256: str) -> str:
        """What a saved fit must match to be reused: the model's settings and the manifest."""
        blob = json.dumps({"model": name, "train": self.train_config(name).to_dict(), "tta": self.tta(name),
                           "folds": self.folds, "exclude": list(self.exclude_labels), "manifest": manifest_sha256,
                           "device": self.device}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cv_assignment(manifest: Manifest, folds: int, seed: int) -> pd.DataFrame:
    """The benchmark's folds (:func:`ynet.splits.nested_cv_assignment`)."""
    return nested_cv_assignment(manifest, folds, seed)


def load_manifest(data: Path, settings: Settings) -> tuple[Manifest, dict]:
    """The cohort regrouped by its duplicate images, and the record of the duplicates found."""
    path = data / "manifest.csv" if data.is_dir() else data
    manifest = read_manifest(path, exclude_labels=settings.exclude_labels)
    report = find_duplicates(manifest, settings.duplicate_threshold)
    regrouped, excluded = regroup(manifest, report, drop_conflicts=not settings.keep_conflicts)
    return regrouped, {**report.record(excluded), "pairs": report.to_frame()}


def load_cohort(data: Path, settings: Settings) -> tuple[Manifest, PreparedCohort]:
    manifest, _ = load_manifest(Path(data), settings)
    return manifest, PreparedCohort(manifest.nodes, Preprocessing(size=settings.image_size), need_masks=False)


# ------------------------------------------------------------------ one fit


def fit_model(name: str, cohort: PreparedCohort, train_idx, val_idx, settings: Settings, fold: int,
              meta: dict | None = None, files: FoldFiles | None = None) -> FoldFit:
    """Fit benchmark model ``name`` with the one trainer (what ``ynet train`` runs for a fold);
    with ``files`` the fit keeps its last finished epoch there and resumes from it."""
    return fit_fold(builder(name, settings), cohort, train_idx, val_idx, settings.train_config(name), fold=fold,
                    meta=meta, files=files, resume=files is not None)


def _loader(cohort: PreparedCohort, idx, batch: int):
    return torch.utils.data.DataLoader(NodeDataset(cohort, idx), batch_size=batch, shuffle=False)


def _score(ev) -> float:
    """One number for a TTA decision: mean of the AUC and the median Dice that the model has."""
    values = [v for v in (ev.auc, ev.dice_median) if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def run_fit(name: str, fold: int, data: Path, settings: Settings, work: Path | None = None) -> dict:
    """Fit (model, outer fold) and predict the fold: the record saved for resuming. ``work``:
    where the unfinished fit keeps its epochs (None: in memory only)."""
    started = time.perf_counter()
    manifest, cohort = load_cohort(Path(data), settings)
    table = cv_assignment(manifest, settings.folds, settings.seed)
    role = table[f"role_{fold}"].to_numpy()
    train_idx, val_idx, test_idx = (np.flatnonzero(role == r).tolist() for r in ("train", "val", "test"))
    wall, cpu, busy = time.perf_counter(), time.process_time(), machine_busy_seconds()
    files = FoldFiles(fold, Path(work)) if work is not None else None
    fit = fit_model(name, cohort, train_idx, val_idx, settings, fold, meta={"manifest_sha256": manifest.sha256},
                    files=files)
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
            "capped": fit.capped, "max_epochs": settings.epochs, "patience": cfg.patience,
            "val_auc": fit.val_auc, "val_dice_median": fit.val_dice_median, "train_seconds": fit.train_seconds,
            "train_images": fit.train_images, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_gpu_mb": peak_gpu, "threads": torch.get_num_threads(), "cpu_seconds": cpu,
            "other_cpu_cores": others, "history": [{k: h[k] for k in ("epoch", "train_loss", "val_loss", "val_auc",
                                                                     "val_dice_median")} for h in fit.history],
            "wall_seconds": time.perf_counter() - started}


def measure_speeds(models, settings: Settings, ttas: dict[str, bool], rounds: int = 5,
                   min_seconds: float = 1.0) -> dict:
    """Parameters, inference and training images/s of ``models``, each timed in interleaved
    rounds in this process (:mod:`ynet.timing`); training at the benchmark's batch size with
    each model's own loss, on fresh models."""
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    threads = torch.get_num_threads()
    built = {m: builder(m, settings)() for m in models}
    timed = time_inference({m: (model, ttas.get(m, False)) for m, model in built.items()}, settings.image_size,
                           rounds=rounds, min_seconds=min_seconds, threads=threads, device=device, seed=settings.seed)
    cfg = settings.train_config(models[0])  # the budget is one for every model
    trained = time_training({m: (builder(m, settings)(), loss_for(settings.train_config(m), [0, 1]))
                             for m in models}, settings.image_size, rounds=rounds, batch=settings.batch_size,
                            lr=cfg.lr, weight_decay=cfg.weight_decay, amp=cfg.amp and device.type == "cuda",
                            min_seconds=min_seconds, threads=threads, device=device, seed=settings.seed)
    return {"threads": timed["threads"], "rounds": timed["rounds"], "train_batch": trained["batch"],
            "models": {m: {"params": sum(p.numel() for p in built[m].parameters()), **timed["models"][m],
                           **trained["models"][m]} for m in models}}


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


def _fits_dir(out: Path, name: str) -> Path:
    return out / f"{name}_cv" / "fits"


def default_work_root() -> Path:
    """The user's cache folder for unfinished fits (``$XDG_CACHE_HOME``, else ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reportmine" / "benchmark"


def _work_dir(work_root: Path, fits_dir: Path, model: str, fold: int, key: str) -> Path:
    """Where an unfinished fit keeps its last finished epoch (removed once the fit is saved):
    named by the benchmark's name, model, fold and settings key (which holds the manifest's
    hash), not by where the checkout lies, so that a fresh clone resumes it too."""
    return work_root / f"{fits_dir.parent.name}-{model}_fold{fold}-{key}"


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
            debug: bool = False, work: Path | None = None) -> None:
    """Run one fit (or the timing) in a fresh process, so that its peak memory is its own.
    A worker refusing its input (exit 2: a bad image, say) is an :class:`InputError` here too."""
    cmd = [sys.executable, "-m", "ynet.benchmark", "--worker", kind, "--name", "worker", "--model", model,
           "--fold", str(fold), "--data", str(data), "--target", str(target),
           "--settings", json.dumps(settings.to_dict()), *(["--work", str(work)] if work else []),
           *(["--debug"] if debug else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not target.exists():
        if debug:  # the worker's own traceback, which the parent's would not show
            log.error("%s of %s fold %d, the worker's output:\n%s", kind, model, fold, done.stderr)
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        error = InputError if done.returncode == EXIT_BAD_INPUT else WorkerFailed
        raise error(f"{kind} of {model} fold {fold} failed (exit {done.returncode}): {tail[0]}")


def fit_task(model: str, fold: int, data: str, settings: dict, work: str) -> dict:
    """One fit as a picklable task for a Dask worker: the record, which the caller saves."""
    return run_fit(model, fold, Path(data), Settings.from_dict(settings), Path(work))


def _run_fits(jobs: list[tuple[str, int]], data: Path, settings: Settings, fits_dir: Path, keys: dict, *,
              work_root: Path, in_process: bool, workers: int, scheduler: str | None, debug: bool, say,
              after_each=lambda: None) -> None:
    """Fit every (model, fold) of ``jobs`` and save each record as soon as it is done;
    ``after_each()`` runs after every saved fit (the progress table is rewritten there)."""
    def work(model: str, fold: int) -> Path:
        return _work_dir(work_root, fits_dir, model, fold, keys[model])

    def save(model: str, fold: int, record: dict) -> None:
        write_json_atomic(_fit_path(fits_dir, model, fold), record)
        shutil.rmtree(work(model, fold), ignore_errors=True)  # its epochs are no longer needed
        say(f"saved {model}, fold {fold + 1} of {settings.folds}")
        after_each()

    if scheduler:
        try:
            from distributed import Client, as_completed  # optional: only a Dask user needs it
        except ImportError as exc:
            raise InputError('--scheduler needs Dask: pip install "distributed"') from exc
        with Client(scheduler) as client:
            futures = {client.submit(fit_task, m, k, str(data.resolve()), settings.to_dict(),
                                     str(work(m, k).resolve()), pure=False,
                                     key=f"fit-{m}-fold{k}-{settings.key(m, 'x')}"): (m, k) for m, k in jobs}
            for m, k in jobs:
                say(f"fitting {m}, fold {k + 1} of {settings.folds} (sent to {scheduler})")
            for future in as_completed(futures):
                save(*futures[future], future.result())
        return

    def one(job: tuple[str, int]) -> None:
        m, k = job
        say(f"fitting {m}, fold {k + 1} of {settings.folds}")
        folder = work(m, k)
        if in_process:
            save(m, k, run_fit(m, k, data, settings, folder))
        else:
            _worker("fit", m, k, data, settings, _fit_path(fits_dir, m, k), debug, folder)
            shutil.rmtree(folder, ignore_errors=True)
            after_each()

    if workers <= 1 or in_process:
        for job in jobs:
            one(job)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # each thread waits on its own worker process
            list(pool.map(one, jobs))


def _labels_note(manifest: Manifest) -> str:
    """What the labels are, from the manifest's ``label_source`` column where it has one."""
    sources = sorted({str(n.meta.get("label_source", "")).strip() for n in manifest.nodes} - {""})
    if not sources:
        return "benign / malignant as given in the manifest (no label_source column)"
    note = {"tirads": "TI-RADS categories (2–3 benign, 4–5 malignant), not pathology"}
    return "labels from " + ", ".join(note.get(s.lower(), s) for s in sources)


def run_benchmark(data: str | Path, name: str, settings: Settings, models=MODELS, out: str | Path = "reports/benchmarks",
                  *, max_fits: int | None = None, in_process: bool = False, status_only: bool = False,
                  inner_only: bool = False, workers: int = 1, scheduler: str | None = None,
                  timing_rounds: int = 5, work_root: str | Path | None = None, debug: bool = False,
                  say=lambda _: None) -> BenchmarkResult:
    """Run (or continue) the cross-validated benchmark; write NAME_cv.json and NAME_cv.md when
    every (model, fold) fit is done, NAME_cv/progress.md while some are missing.
    ``in_process`` fits in this process (tests; peak memory then is the whole process's);
    ``status_only`` fits and times nothing and only reports where the run stands;
    ``inner_only`` (an option round) fits but writes only the inner-validation progress table;
    ``workers`` fits run at once in local worker processes, or ``scheduler`` (a Dask
    scheduler address) runs them on a cluster."""
    data, out = Path(data), Path(out)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    manifest, duplicates = load_manifest(data, settings)
    table = cv_assignment(manifest, settings.folds, settings.seed)
    groups = dict(zip(table["id"], table["group"]))
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
        write_csv_atomic(fits_dir.parent / "folds.csv", table)
        write_csv_atomic(fits_dir.parent / "duplicates.csv", duplicates["pairs"])
    if inner_only and not marker.exists():  # the folder exists here: made above, or --status refused
        write_text_atomic(marker, "An option round, decided on inner validation only: no out-of-fold predictions,\n"
                                  "scores or tables are written for these fits. Delete this file to score them.\n")
    keys = {m: settings.key(m, manifest.sha256) for m in MODELS}
    jobs = [(m, k) for m in models for k in range(settings.folds) if _load_fit(_fit_path(fits_dir, m, k), keys[m]) is None]
    jobs = jobs if max_fits is None else jobs[:max_fits]

    def saved() -> tuple[dict, list[str]]:
        fits, missing = {}, []
        for m in models:
            fits[m] = []
            for k in range(settings.folds):
                record = _load_fit(_fit_path(fits_dir, m, k), keys[m])
                if record is None:
                    missing.append(f"{m} fold {k}")
                else:
                    fits[m].append(record)
        return fits, missing

    def shown_fits(fits: dict) -> tuple[dict, dict]:
        """Every model with fits of these settings here, not only those asked for now (a long
        benchmark is run a model at a time), and those others alone."""
        others = {m: _same_settings_fits(fits_dir, m, keys[m], settings.folds) for m in MODELS if m not in fits}
        return {m: fits[m] if m in fits else others[m] for m in MODELS if m in fits or others[m]}, others

    def write_progress() -> None:  # after every saved fit: where a long run stands, between sittings
        shown, _ = shown_fits(saved()[0])
        write_text_atomic(progress, progress_markdown(shown, settings, name, groups, out_of_fold=not inner_only))

    if jobs:
        _run_fits(jobs, data, settings, fits_dir, keys, work_root=Path(work_root or default_work_root()),
                  in_process=in_process, workers=workers, scheduler=scheduler, debug=debug, say=say,
                  after_each=write_progress)
    fits, missing = saved()
    for m, records in fits.items():  # every image once, out of fold: a model's predictions for other tools
        if len(records) == settings.folds and not inner_only:
            write_csv_atomic(fits_dir.parent / f"{m}_oof.csv", oof_predictions(records))
    shown, others = shown_fits(fits)
    if any(shown.values()):
        plot_learning_curves(shown, fits_dir.parent / "learning_curves.png", name)
    if missing or status_only or inner_only or any(others.values()):
        write_progress()
    if missing or status_only or inner_only:  # where it stands, beside the fits (a long benchmark runs over sittings)
        return BenchmarkResult(None, progress, False, len(jobs), tuple(missing), inner_only=inner_only)
    # inference is timed again by every run that writes the tables, never read back from an
    # earlier one: every model in one process, in interleaved rounds
    say(f"timing {', '.join(models)} ({timing_rounds} interleaved rounds)")
    ttas = {m: any(r["tta"] == "on" for r in fits[m]) for m in models}
    speed_path = fits_dir.parent / "speed.json"
    speed_path.unlink(missing_ok=True)
    if in_process:
        write_json_atomic(speed_path, measure_speeds(models, settings, ttas, rounds=timing_rounds))
    else:
        _worker("speed", ",".join(f"{m}{'+tta' if ttas[m] else ''}" for m in models), timing_rounds, data, settings,
                speed_path, debug)
    speeds = json.loads(speed_path.read_text(encoding="utf-8"))
    hw = hardware(resolve_device(settings.device))
    payload = summarize(fits, speeds["models"], groups, max_epochs=settings.epochs, seed=settings.seed, hw=hw)
    payload["protocol"] = {
        "data": f"{manifest.path.parent.name}/{manifest.path.name}", "manifest_sha256": manifest.sha256,
        "labels": _labels_note(manifest), "n_images": len(manifest.nodes),
        "n_groups": int(table["group"].nunique()), "cluster": "split group (patient or near-duplicate images)",
        "excluded_rows": manifest.excluded, "duplicates": {k: v for k, v in duplicates.items() if k != "pairs"},
        "folds": settings.folds, "epochs": settings.epochs, "seed": settings.seed, "device": settings.device,
        "hardware": hw, "threads": speeds["threads"], "timing_rounds": speeds["rounds"],
        "train_batch": speeds.get("train_batch"),
        "settings": settings.to_dict() | {"max_epochs": settings.epochs, "patience": settings.train_config("ynet").patience},
        "versions": versions(),
        "split": f"{settings.folds}-fold StratifiedGroupKFold by duplicate-aware split group over the whole labeled "
                 f"cohort; inner validation 1/{max(2, settings.folds - 1)} of each training part; one out-of-fold "
                 "prediction per image",
        "trainer": "ynet.train.fit_fold (the code `ynet train` runs), early stopping on the inner-validation loss"}
    json_path, md_path = out / f"{name}_cv.json", out / f"{name}_cv.md"
    write_json_atomic(json_path, payload)
    write_text_atomic(md_path, markdown(payload, name))
    if not any(others.values()):
        progress.unlink(missing_ok=True)  # the tables say it all now
    return BenchmarkResult(json_path, md_path, True, len(jobs), (), payload)


# ------------------------------------------------------------------ command line


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m ynet.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder with manifest.csv (or the manifest)")
    parser.add_argument("--name", required=True, help="name of the outputs (NAME_cv.json, NAME_cv.md)")
    parser.add_argument("--folds", type=whole(2, 100), default=5, help="outer folds, 2 to 100 (default 5)")
    parser.add_argument("--epochs", type=whole(1), default=MAX_EPOCHS,
                        help=f"most epochs per fit, at least 1 (default {MAX_EPOCHS}; early stopping ends fits sooner)")
    parser.add_argument("--patience", type=whole(1), default=PATIENCE,
                        help=f"early stopping: epochs without a better inner-validation loss (default {PATIENCE})")
    parser.add_argument("--max-fit-minutes", type=real(0, 10_000, open_low=True),
                        help="cap on each fit's training time, the same for every model (default: none)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"),
                        help="output folder (default reports/benchmarks)")
    add_seed(parser)
    parser.add_argument("--batch-size", type=whole(1), default=8, help="at least 1 (default 8)")
    parser.add_argument("--image-size", type=image_size, default=256, help="network input size in px (default 256)")
    parser.add_argument("--exclude-label", action="append", help="labels to drop (default: normal)")
    parser.add_argument("--dice-weight", type=real(0, 100), default=TrainConfig.dice_weight,
                        help="weight of the soft Dice term in every model's mask loss (default 1, as `ynet train`; "
                             "0: cross-entropy only, as the paper)")
    parser.add_argument("--duplicate-threshold", type=real(0, 1, open_low=True, open_high=True),
                        default=DUPLICATE_THRESHOLD,
                        help=f"thumbnail correlation above which images share a group (default {DUPLICATE_THRESHOLD:g})")
    parser.add_argument("--keep-conflicts", action="store_true",
                        help="keep duplicate images with opposite labels (default: excluded)")
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
    parser.add_argument("--ynet-cls-weight", type=real(0, 10, open_low=True), default=1.0,
                        help="weight of the class term in seg+cls Y-Net's joint loss (default 1, as the paper)")
    parser.add_argument("--max-fits", type=whole(1), help="stop after this many new fits (rerun to continue)")
    parser.add_argument("--workers", type=whole(1, 64), default=1,
                        help="fits run at once in local worker processes (default 1)")
    parser.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:8786): run the fits on that cluster")
    parser.add_argument("--work-dir", type=Path,
                        help="where unfinished fits keep their last epoch (default: the user's cache folder, "
                             "~/.cache/reportmine/benchmark; on a Dask cluster, a folder every worker sees)")
    parser.add_argument("--timing-rounds", type=whole(1, 100), default=5,
                        help="interleaved inference timing rounds per model (default 5)")
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
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    return parser


def settings_from_args(args) -> Settings:
    return Settings(folds=args.folds, epochs=args.epochs, batch_size=args.batch_size, patience=args.patience,
                    image_size=args.image_size, seed=args.seed, device=args.device,
                    exclude_labels=tuple(args.exclude_label) if args.exclude_label else ("normal",),
                    duplicate_threshold=args.duplicate_threshold, keep_conflicts=args.keep_conflicts,
                    max_fit_minutes=args.max_fit_minutes,
                    ynet_width=args.ynet_width, ynet_tta=args.ynet_tta,
                    ynet_class_balanced=args.ynet_class_balanced, ynet_select=args.ynet_select,
                    ynet_head=args.ynet_head, ynet_morphology=args.ynet_morphology,
                    ynet_cls_weight=args.ynet_cls_weight,
                    dice_weight=args.dice_weight)


def _work(args) -> int:
    """One fit, or the timing of every model, in its own process; its last stderr line is the
    parent's message."""
    settings = Settings.from_dict(json.loads(args.settings))
    if args.worker == "fit":
        write_json_atomic(args.target, run_fit(args.model, args.fold, args.data, settings, args.work))
    else:
        names = args.model.split(",")
        models = [n.removesuffix("+tta") for n in names]
        ttas = {n.removesuffix("+tta"): n.endswith("+tta") for n in names}
        write_json_atomic(args.target, measure_speeds(models, settings, ttas, rounds=args.fold))
    return 0


def main(argv=None) -> int:
    args = parse_command_line(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.worker:
        return run_command("ynet.benchmark worker", lambda: _work(args), debug=args.debug,
                           expected=(DataError, ValueError))

    def handler() -> int:
        settings = settings_from_args(args)
        models = tuple(m for m in args.models.split(",") if m)
        result = run_benchmark(args.data, args.name, settings, models, args.out, max_fits=args.max_fits,
                               in_process=args.in_process, status_only=args.status, inner_only=args.inner_only,
                               workers=args.workers, scheduler=args.scheduler, timing_rounds=args.timing_rounds,
                               work_root=args.work_dir,
                               debug=args.debug, say=lambda line: print(line, file=sys.stderr))
        print(result.summary())
        print(result.markdown_path.read_text(encoding="utf-8"))
        return 0

    return run_command("ynet.benchmark", handler, debug=args.debug, expected=(DataError, ValueError))


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["MAX_EPOCHS", "MODELS", "MODEL_KEYS", "NAMES", "PAIRED_KEYS", "PATIENCE", "BenchmarkResult", "Settings",
           "builder", "cv_assignment", "fit_model", "fit_task", "load_cohort", "load_manifest", "main",
           "measure_speeds", "paired_statistics", "progress_markdown", "run_benchmark", "run_fit", "summarize"]
