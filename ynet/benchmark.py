"""Y-Net against segmentation peers on a real cohort (BUSI, DDTI), measured in one run.

    python -m ynet.benchmark --data ../shared/datasets/busi --name busi --epochs 12 \
        --out reports/benchmarks [--device cpu] [--models ynet,ynet_cls_only,peer,monai] [--folds 5]

Needs, in the same venv, ``segmentation_models_pytorch`` (peer: Unet-resnet34 with an
auxiliary classification head, no pretrained weights) and ``monai`` (UNet, segmentation only).
They import torchvision, which breaks beside torch 2.13.0: give this script its own venv
(``pip install torch==2.14.1 torchvision==0.29.1 segmentation-models-pytorch monai`` and
this project).

Protocol: labels benign vs malignant (``normal`` excluded); one fixed grouped split by
``split_group`` (test ≈ 20 %, then fold 0 of 5 of the rest for validation); the same
preprocessing, augmentation, optimiser (Adam, lr 1e-3, batch 8), loss (cross-entropy for
mask and class) and epoch budget for every model; the checkpoint with the lowest
validation loss is scored on the test split. With ``--folds K`` each model is trained K times,
fold k of the training part validating the k-th model, and the test split is scored by the
average of the K models (class probabilities and mask probabilities averaged; each single
model's test AUC and Dice are kept too). Speed is measured first, model after model
in separate processes on an otherwise idle machine: training images/s over 12 steps,
inference images/s at batch 1 and 8; peak memory is each training process's maximum RSS.
``--fits RUNS_JSON`` keeps an earlier run's trained-model results and measures only the speeds
again (for when another job shared the machine during the speed phase).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODELS = ("ynet", "ynet_cls_only", "peer", "monai")
NAMES = {"ynet": "Y-Net (segmentation + classification)", "ynet_cls_only": "Y-Net (classification only)",
         "peer": "smp Unet-resnet34 + aux head", "monai": "MONAI UNet (segmentation only)"}


def build(name: str) -> torch.nn.Module:
    """Every model returns (mask logits N×2×H×W or None, class logits N×2 or None)."""
    if name in ("ynet", "ynet_cls_only"):
        from ynet.model import YNet, YNetConfig

        return YNet(YNetConfig(variant="seg+cls" if name == "ynet" else "cls-only"))
    if name == "peer":
        import segmentation_models_pytorch as smp

        net = smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=2,
                       aux_params={"classes": 2, "dropout": 0.2})

        class Peer(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                mask, label = self.net(x)
                return mask, label

        return Peer()
    if name == "monai":
        from monai.networks.nets import UNet

        net = UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256),
                   strides=(2, 2, 2, 2), num_res_units=2)

        class Monai(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net(x), None

        return Monai()
    raise ValueError(f"unknown model {name!r}")


def _cohort(data: Path, seed: int, fold: int = 0):
    from ynet.data import PreparedCohort, Preprocessing, read_manifest
    from ynet.splits import assign_splits

    manifest = read_manifest(data / "manifest.csv", exclude_labels=["normal"])
    table = assign_splits(manifest, folds=5, test_fraction=0.2, seed=seed)
    cohort = PreparedCohort(manifest.nodes, Preprocessing(size=256), need_masks=True)
    index = {n.id: i for i, n in enumerate(cohort.nodes)}
    part = {
        "train": [index[i] for i in table.loc[(table["split"] == "train") & (table["fold"] != fold), "id"]],
        "val": [index[i] for i in table.loc[table["fold"] == fold, "id"]],
        "test": [index[i] for i in table.loc[table["split"] == "test", "id"]],
    }
    return manifest, cohort, part


def _loader(cohort, idx, augment: bool, seed: int, shuffle: bool, batch: int):
    from ynet.data import Augmentation, NodeDataset

    ds = NodeDataset(cohort, idx, Augmentation() if augment else None, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    return ds, torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=gen,
                                           drop_last=shuffle)


def _evaluate(model, loader, device, maps: dict | None = None):
    """Mean loss, P(malignant), labels and Dice per image; with ``maps`` (a dict of two lists),
    the foreground probability maps and reference masks are kept there."""
    from reportmine.stats import dice
    from ynet.loss import JointLoss

    model.eval()
    losses, probs, labels, dices = [], [], [], []
    with torch.no_grad():
        for image, mask, label, _ in loader:
            image, mask, label = image.to(device), mask.to(device), label.to(device)
            seg, cls = model(image)
            cls_for_loss = cls if cls is not None else torch.zeros(image.shape[0], 2, device=device)
            parts = JointLoss(cls_weight=1.0 if cls is not None else 0.0)(seg, cls_for_loss, mask, label)
            losses.append(float(parts.total) * image.shape[0])
            if cls is not None:
                probs += cls.softmax(1)[:, 1].cpu().tolist()
            labels += label.cpu().tolist()
            if seg is not None:
                for p, m in zip(seg.argmax(1).cpu().numpy(), mask.cpu().numpy()):
                    dices.append(dice(p, m))
                if maps is not None:
                    maps["fg"] += list(seg.float().softmax(1)[:, 1].cpu().numpy().astype(np.float16))
                    maps["mask"] += list(mask.cpu().numpy().astype(np.uint8))
    return sum(losses) / len(labels), np.array(probs), np.array(labels), np.array(dices)


def speed(name: str, device: str, steps: int = 12) -> dict:
    torch.manual_seed(0)
    dev = torch.device(device)
    model = build(name).to(dev)
    params = sum(p.numel() for p in model.parameters())
    x8 = torch.randn(8, 1, 256, 256, device=dev)
    masks = torch.randint(0, 2, (8, 256, 256), device=dev)
    labels = torch.randint(0, 2, (8,), device=dev)
    from ynet.loss import JointLoss

    loss_fn = JointLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        seg, cls = model(x8)
        loss = loss_fn(seg, cls if cls is not None else torch.zeros(8, 2, device=dev), masks, labels).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_ips = steps * 8 / (time.perf_counter() - start)
    model.eval()
    out = {}
    with torch.no_grad():
        for batch in (1, 8):
            x = x8[:batch]
            for _ in range(2):
                model(x)
            n = 24 if batch == 1 else 6
            start = time.perf_counter()
            for _ in range(n):
                model(x)
            out[f"infer_images_per_s_b{batch}"] = n * batch / (time.perf_counter() - start)
    return {"params": params, "train_images_per_s": train_ips, **out}


def fit(name: str, data: Path, epochs: int, device: str, seed: int, fold: int = 0,
        test_maps: Path | None = None) -> dict:
    """Train one model on the training part less ``fold``, score the test split; ``test_maps``
    (an .npz path) receives the test probabilities, labels and foreground maps."""
    from reportmine.stats import auc_delong
    from ynet.loss import JointLoss

    torch.manual_seed(seed)
    dev = torch.device(device)
    manifest, cohort, part = _cohort(data, seed, fold)
    model = build(name).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=1e-5)
    train_set, train_loader = _loader(cohort, part["train"], True, seed, True, 8)
    _, val_loader = _loader(cohort, part["val"], False, seed, False, 16)
    _, test_loader = _loader(cohort, part["test"], False, seed, False, 16)
    best, best_state, history = float("inf"), None, []
    started = time.perf_counter()
    for epoch in range(epochs):
        train_set.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        for image, mask, label, _ in train_loader:
            image, mask, label = image.to(dev), mask.to(dev), label.to(dev)
            seg, cls = model(image)
            has_cls = cls is not None
            parts = JointLoss(cls_weight=1.0 if has_cls else 0.0)(
                seg, cls if has_cls else torch.zeros(image.shape[0], 2, device=dev), mask, label)
            opt.zero_grad()
            parts.total.backward()
            opt.step()
        sched.step()
        val_loss, probs, labels, dices = _evaluate(model, val_loader, dev)
        history.append({"epoch": epoch + 1, "val_loss": val_loss, "seconds": time.perf_counter() - t0,
                        "val_dice_median": float(np.median(dices)) if dices.size else None,
                        "val_auc": auc_delong(labels, probs).auc if probs.size else None})
        print(json.dumps({"model": name, **history[-1]}), file=sys.stderr, flush=True)
        if val_loss < best:
            best = val_loss
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    maps = {"fg": [], "mask": []} if test_maps is not None else None
    _, probs, labels, dices = _evaluate(model, test_loader, dev, maps)
    if test_maps is not None:
        np.savez(test_maps, probs=probs, labels=labels, fg=np.array(maps["fg"], dtype=np.float16),
                 masks=np.array(maps["mask"], dtype=np.uint8))
    result = {"model": name, "name": NAMES[name], "epochs": epochs, "fold": fold,
              "training_seconds": time.perf_counter() - started,
              "n_train": len(part["train"]), "n_val": len(part["val"]), "n_test": len(part["test"]),
              "history": history, "dice_values": dices.tolist(), "probs": probs.tolist(),
              "labels": labels.tolist(), "manifest_sha256": manifest.sha256}
    result.update(_scores(dices, labels, probs, seed))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _scores(dices: np.ndarray, labels: np.ndarray, probs: np.ndarray, seed: int) -> dict:
    """Test Dice median [Q1, Q3] and AUC with DeLong CI; None where the model has no such output."""
    from reportmine.stats import auc_delong, summarize_overlap

    out = dict.fromkeys(("dice_median", "dice_q1", "dice_q3", "auc", "auc_ci_low", "auc_ci_high"))
    if dices.size:
        s = summarize_overlap(dices, n_boot=1000, seed=seed)
        out.update(dice_median=s.median, dice_q1=s.q1, dice_q3=s.q3)
    if probs.size:
        a = auc_delong(labels, probs)
        out.update(auc=a.auc, auc_ci_low=a.ci_low, auc_ci_high=a.ci_high)
    return out


def _ensemble(fold_results: list[dict], map_files: list[Path], seed: int) -> dict:
    """Average the fold models' test probabilities and foreground maps; score the average."""
    from reportmine.stats import dice

    runs = [np.load(f) for f in map_files]
    labels = runs[0]["labels"]
    probs = np.mean([r["probs"] for r in runs], axis=0) if runs[0]["probs"].size else np.array([])
    dices = np.array([])
    if runs[0]["fg"].size:
        fg = np.mean([r["fg"].astype(np.float32) for r in runs], axis=0)
        # foreground probability ≥ 0.5 is the two-class argmax of the averaged softmax
        dices = np.array([dice((f >= 0.5).astype(np.uint8), m) for f, m in zip(fg, runs[0]["masks"])])
    first = fold_results[0]
    result = {k: first[k] for k in ("model", "name", "epochs", "n_train", "n_val", "n_test", "manifest_sha256")}
    result |= {"folds": len(fold_results), "history": first["history"],
               "training_seconds": sum(r["training_seconds"] for r in fold_results),
               "peak_rss_mb": max(r["peak_rss_mb"] for r in fold_results),
               "dice_values": dices.tolist(), "probs": probs.tolist(), "labels": labels.tolist(),
               "single_models": [{k: r.get(k) for k in ("fold", "auc", "dice_median", "training_seconds")}
                                 for r in fold_results]}
    return result | _scores(dices, labels, probs, seed)


def _worker(args) -> int:
    if args.worker == "speed":
        print(json.dumps(speed(args.model, args.device)))
    else:
        print(json.dumps(fit(args.model, Path(args.data), args.epochs, args.device, args.seed, args.fold,
                             Path(args.maps) if args.maps else None)))
    return 0


def _run(kind: str, model: str, args, fold: int = 0, maps: Path | None = None) -> dict:
    cmd = [sys.executable, "-m", "ynet.benchmark", "--worker", kind, "--model", model, "--data", str(args.data),
           "--epochs", str(args.epochs), "--device", args.device, "--seed", str(args.seed), "--out", str(args.out),
           "--fold", str(fold)] + (["--maps", str(maps)] if maps else [])
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _plots(results: dict, out: Path, name: str, folds: int = 1) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, r in results.items():
        epochs = [h["epoch"] for h in r["history"]]
        axes[0].plot(epochs, [h["val_loss"] for h in r["history"]], label=NAMES[key])
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("validation loss" if folds == 1 else "validation loss (fold-0 model)")
    axes[0].legend(fontsize=7)
    with_dice = {k: r for k, r in results.items() if r["dice_values"]}
    axes[1].boxplot([r["dice_values"] for r in with_dice.values()], showfliers=False)
    axes[1].set_xticks(range(1, len(with_dice) + 1), [NAMES[k].split(" (")[0] for k in with_dice], fontsize=7)
    axes[1].set_ylabel("test Dice per image")
    fig.tight_layout()
    fig.savefig(out / f"{name}_curves.png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="dataset folder with manifest.csv")
    parser.add_argument("--name", default="busi")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--folds", type=int, default=1,
                        help="train one model per cross-validation fold (of 5) and score their average")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    parser.add_argument("--fits", type=Path,
                        help="reuse the trained-model results of an earlier run (its *_runs.json) and measure "
                             "only the speeds anew, e.g. after another job disturbed the speed phase")
    parser.add_argument("--worker", choices=("speed", "fit"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--fold", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--maps", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    if not 1 <= args.folds <= 5:
        parser.error(f"--folds must be between 1 and 5, got {args.folds}")
    models = [m for m in args.models.split(",") if m]
    hardware = f"{platform.machine()} CPU, {torch.get_num_threads()} threads" if args.device == "cpu" else \
        torch.cuda.get_device_name(0)
    earlier = json.loads(args.fits.read_text()) if args.fits else {}
    if args.fits:
        for m in models:
            fits = earlier.get(m)
            if fits is None or fits["epochs"] != args.epochs or fits.get("folds", 1) != args.folds:
                parser.error(f"{args.fits}: no {m} model trained for {args.epochs} epochs and {args.folds} fold(s)")
    speeds = {m: _run("speed", m, args) for m in models}
    results = {}
    for m in models:
        if args.fits:
            fits = earlier[m]
        elif args.folds == 1:
            fits = _run("fit", m, args)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                maps = [Path(tmp) / f"fold{k}.npz" for k in range(args.folds)]
                runs = [_run("fit", m, args, fold=k, maps=maps[k]) for k in range(args.folds)]
                fits = _ensemble(runs, maps, args.seed)
        results[m] = fits | speeds[m] | {"hardware": hardware}
    keys = ("dice_median", "dice_q1", "dice_q3", "auc", "auc_ci_low", "auc_ci_high", "params", "train_images_per_s",
            "infer_images_per_s_b1", "infer_images_per_s_b8", "peak_rss_mb", "epochs", "hardware", "n_train",
            "n_val", "n_test", "training_seconds", "name", "folds", "single_models")
    payload = {m: {k: r.get(k) for k in keys} for m, r in results.items()}
    split = "grouped by split_group; test ~20 %, " + (
        "validation = fold 0 of 5" if args.folds == 1 else f"{args.folds} models, model k validated on fold k of 5, "
                                                          "test scored by their average")
    payload["protocol"] = {"data": str(args.data), "seed": args.seed, "epochs": args.epochs, "device": args.device,
                           "torch": torch.__version__, "python": platform.python_version(),
                           "manifest_sha256": next(iter(results.values()))["manifest_sha256"],
                           "folds": args.folds, "excluded": "normal", "split": split,
                           "fits_from": str(args.fits) if args.fits else None}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(payload, indent=2))
    (args.out / f"{args.name}_runs.json").write_text(json.dumps(results))
    _plots(results, args.out, args.name, args.folds)
    ensemble = "" if args.folds == 1 else f", average of {args.folds} fold models"
    lines = [f"# {args.name.upper()}: Y-Net vs peers ({args.epochs} epochs each{ensemble}, {hardware})", "",
             "| model | params | test Dice median [Q1, Q3] | test AUC (95 % CI, DeLong) | train img/s | "
             "infer img/s b1 | infer img/s b8 | peak RSS |", "|---|---:|---|---|---:|---:|---:|---:|"]
    for m, r in payload.items():
        if m == "protocol":
            continue
        dice = "—" if r["dice_median"] is None else f"{r['dice_median']:.3f} [{r['dice_q1']:.3f}, {r['dice_q3']:.3f}]"
        auc = "—" if r["auc"] is None else f"{r['auc']:.3f} ({r['auc_ci_low']:.3f}–{r['auc_ci_high']:.3f})"
        lines.append(f"| {r['name']} | {r['params']:,} | {dice} | {auc} | {r['train_images_per_s']:.1f} | "
                     f"{r['infer_images_per_s_b1']:.1f} | {r['infer_images_per_s_b8']:.1f} | {r['peak_rss_mb']:.0f} MB |")
    if "peer" in payload and "ynet" in payload:
        p, y = payload["peer"], payload["ynet"]
        lines += ["", f"Y-Net / smp peer: inference (b8) {y['infer_images_per_s_b8'] / p['infer_images_per_s_b8']:.1f}×, "
                      f"training {y['train_images_per_s'] / p['train_images_per_s']:.1f}×."]
    for m, r in payload.items():
        if m != "protocol" and r.get("single_models"):
            single = [x for x in r["single_models"] if x["auc"] is not None or x["dice_median"] is not None]
            aucs = np.array([x["auc"] for x in single if x["auc"] is not None])
            dices = np.array([x["dice_median"] for x in single if x["dice_median"] is not None])
            parts = [f"AUC {', '.join(f'{a:.3f}' for a in aucs)} (mean {aucs.mean():.3f}, SD {aucs.std(ddof=1):.3f})"
                     if aucs.size > 1 else "",
                     f"Dice median {', '.join(f'{d:.3f}' for d in dices)} (mean {dices.mean():.3f})"
                     if dices.size > 1 else ""]
            lines += ["", f"{r['name']}, each fold model alone on the test split: " + "; ".join(x for x in parts if x)
                      + f"; {r['training_seconds'] / 60:.0f} min of training in all."]
    lines += ["", f"Split: {payload['protocol']['split']}; n = {payload[models[0]]['n_train']} train, "
                  f"{payload[models[0]]['n_val']} validation, {payload[models[0]]['n_test']} test.",
              f"Plots: `{args.name}_curves.png`. Raw per-image values: `{args.name}_runs.json`."]
    if args.fits:
        lines += ["", f"Trained-model results (Dice, AUC, peak RSS) from the earlier run `{args.fits.name}`; "
                      "speeds measured anew in this run."]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
