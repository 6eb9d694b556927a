"""`ynet`: train and score the Y-Net on a cohort manifest (a thin layer over ynet.train / ynet.predict)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ynet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="k-fold training on the manifest's training part")
    t.add_argument("--manifest", required=True, help="cohort manifest (.csv/.xlsx)")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--variant", choices=("seg+cls", "cls-only"), default="seg+cls")
    group = t.add_mutually_exclusive_group()
    group.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    group.add_argument("--fold", type=int, help="train only fold K (of --n-folds, default 5)")
    t.add_argument("--n-folds", type=int, default=5, help=argparse.SUPPRESS)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--patience", type=int, default=8, help="early stopping on the validation loss")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    t.add_argument("--image-size", type=int, default=256)
    t.add_argument("--dice-weight", type=float, default=0.0, help="add a soft Dice term to the mask loss")
    t.add_argument("--head", choices=("global", "mask"), default="global",
                   help="classification head pooling: global (paper) or mask-guided (inside/around the node)")
    t.add_argument("--morphology", action="store_true",
                   help="feed the predicted node's area, axis ratio and circularity to the classification head")
    t.add_argument("--class-balanced", action="store_true",
                   help="weight the classification loss by inverse class frequency")
    t.add_argument("--select", choices=("loss", "auc"), default="loss",
                   help="keep the epoch with the best validation loss (default) or AUC")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--test-fraction", type=float, default=0.2, help="held-out test part (unless the manifest has split)")
    t.add_argument("--exclude-label", action="append", default=[], help="drop rows with this label (e.g. normal)")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--quiet", action="store_true")

    p = sub.add_parser("predict", help="probabilities (CSV) and mask PNGs")
    p.add_argument("--model", action="append", required=True, help="checkpoint; repeat to average (fold models)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="score the manifest's rows")
    src.add_argument("--images", nargs="+", help="score these image files")
    p.add_argument("--split", choices=("train", "test"), help="only rows of this split (needs --splits)")
    p.add_argument("--splits", help="a run's splits.csv (for --split)")
    p.add_argument("--out", required=True, help="predictions .csv")
    p.add_argument("--masks-dir", help="write predicted masks here")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--exclude-label", action="append", default=[])

    i = sub.add_parser("info", help="model configuration and parameter count")
    i.add_argument("--variant", choices=("seg+cls", "cls-only"), default="seg+cls")
    i.add_argument("--width", type=float, default=1.0)
    i.add_argument("--json", action="store_true")
    return parser


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(variant=args.variant, folds=args.n_folds if args.fold is not None else args.folds,
                      fold=args.fold, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      patience=args.patience, seed=args.seed, device=args.device, width=args.width,
                      image_size=args.image_size, dice_weight=args.dice_weight, augment=not args.no_augment,
                      class_balanced=args.class_balanced, select=args.select, head=args.head,
                      morphology=args.morphology,
                      test_fraction=args.test_fraction, exclude_labels=tuple(args.exclude_label))
    result = train(args.manifest, args.out, cfg, resume=args.resume, progress=not args.quiet)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0

    def show(value, digits):
        return "n/a" if value is None else f"{value:.{digits}f}"

    for fold in result["folds"]:
        print(f"fold {fold['fold']}: best validation loss {show(fold['best_val_loss'], 4)}, "
              f"AUC {show(fold.get('val_auc'), 3)}, Dice {show(fold.get('val_dice_median'), 3)} "
              f"(epoch {fold['epoch']} of {fold['epochs_run']})")
    print(f"run folder: {result['run_dir']}")
    return 0


def _cmd_predict(args) -> int:
    from pathlib import Path

    import pandas as pd
    from tqdm import tqdm

    from reportmine.core.outputs import check_targets, write_csv_atomic

    from .predict import PredictionSummary, predict

    inputs = [*args.model, args.manifest, args.splits, *(args.images or ())]
    check_targets([args.out], inputs)
    if Path(args.out).suffix.lower() != ".csv":
        raise ValueError(f"{args.out}: predictions are written as .csv")
    ids = None
    if args.split:
        if not args.splits or not args.manifest:
            raise ValueError("--split needs --manifest and --splits (a run's splits.csv)")
        table = pd.read_csv(args.splits, dtype={"id": str})
        ids = list(table.loc[table["split"] == args.split, "id"])
    bar = tqdm(unit=" images", desc="scoring", file=sys.stderr, disable=None)
    try:
        table = predict(args.model, manifest=args.manifest, images=args.images or (),
                          masks_dir=args.masks_dir, ids=ids, batch_size=args.batch_size, device=args.device,
                          exclude_labels=args.exclude_label, progress=bar.update)
    finally:
        bar.close()
    write_csv_atomic(args.out, table)
    print(PredictionSummary.of(table, args.out, args.masks_dir).summary())
    return 0


def _cmd_info(args) -> int:
    from .model import YNet, YNetConfig, count_parameters

    cfg = YNetConfig(variant=args.variant, width=args.width)
    params = count_parameters(YNet(cfg))
    if args.json:
        print(json.dumps({"params": params, "config": cfg.to_dict()}))
    else:
        print(f"Y-Net ({cfg.variant}), width {cfg.width:g}: {params:,} parameters")
        print(f"  channels {cfg.channels()}, ESP blocks per stage {cfg.blocks}, dilations {cfg.dilations}, "
              f"pyramid bins {cfg.bins}")
    return 0


def main(argv=None) -> int:
    from .checkpoint import CheckpointError
    from .data import DataError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handlers = {"train": _cmd_train, "predict": _cmd_predict, "info": _cmd_info}
    try:
        return handlers[args.command](args)
    except (DataError, CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"ynet: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("ynet: interrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
