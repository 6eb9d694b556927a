"""`ynet`: train and score the Y-Net on a cohort manifest (a thin layer over ynet.train / ynet.predict)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from reportmine.core.arguments import ArgumentParser, add_seed, parse_command_line, real, whole
from reportmine.core.errors import run_command
from reportmine.core.outputs import check_targets, write_csv_atomic

from .limits import DICE_WEIGHT, DUPLICATE_THRESHOLD, WIDTH_RANGE, image_size, width
from .limits import IMAGE_SIZE_RANGE as IMAGE_SIZES


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="ynet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="k-fold training on the manifest's training part")
    t.add_argument("--manifest", required=True, help="cohort manifest (.csv/.xlsx)")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--variant", choices=("seg+cls", "cls-only"), default="seg+cls")
    t.add_argument("--folds", type=whole(2, 100), default=5, help="cross-validation folds, 2 to 100 (default 5)")
    # the earlier spelling of --folds, still accepted (not shown)
    t.add_argument("--n-folds", dest="folds", type=whole(2, 100), default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    t.add_argument("--fold", type=whole(0, 99), metavar="K",
                   help="train only fold K (0 to --folds minus 1) instead of every fold")
    t.add_argument("--epochs", type=whole(1), default=30, help="at least 1 (default 30)")
    t.add_argument("--batch-size", type=whole(1), default=8, help="at least 1 (default 8)")
    t.add_argument("--lr", type=real(0, 10, open_low=True), default=1e-3,
                   help="learning rate, in (0, 10] (default 0.001)")
    t.add_argument("--patience", type=whole(1), default=8,
                   help="early stopping on the validation loss: epochs without improvement, at least 1 "
                        "(default 8)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_seed(t)
    t.add_argument("--width", type=width, default=1.0,
                   help=f"channel width multiplier, {WIDTH_RANGE[0]:g} to {WIDTH_RANGE[1]:g} (default 1)")
    t.add_argument("--image-size", type=image_size, default=256,
                   help=f"network input size in px, a multiple of 8 from {IMAGE_SIZES[0]} to {IMAGE_SIZES[1]}")
    t.add_argument("--dice-weight", type=real(0, 100), default=DICE_WEIGHT,
                   help="weight of the soft Dice term added to the mask's cross-entropy (default 1; 0: the paper's "
                        "cross-entropy only)")
    t.add_argument("--head", choices=("global", "mask"), default="global",
                   help="classification head pooling: global (paper) or mask-guided (inside/around the node)")
    t.add_argument("--morphology", action="store_true",
                   help="feed the predicted node's area, axis ratio and circularity to the classification head")
    t.add_argument("--class-balanced", action="store_true",
                   help="weight the classification loss by inverse class frequency")
    t.add_argument("--select", choices=("loss", "auc"), default="loss",
                   help="keep the epoch with the best validation loss (default) or AUC")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--test-fraction", type=real(0, 1, open_low=True, open_high=True), default=0.2,
                   help="held-out test part, in (0, 1) (unless the manifest has a split column)")
    t.add_argument("--exclude-label", action="append", default=[], help="drop rows with this label (e.g. normal)")
    add_duplicate_options(t)
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
    p.add_argument("--masks-dir", help="write predicted masks here: a new or empty folder, or an earlier "
                                        "`ynet predict` mask folder (with --force); never one holding inputs")
    p.add_argument("--force", action="store_true", help="replace an earlier `ynet predict` mask folder")
    p.add_argument("--batch-size", type=whole(1), default=8)
    p.add_argument("--tta", action="store_true",
                   help="average each image with its horizontal mirror (test-time augmentation)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--exclude-label", action="append", default=[])

    d = sub.add_parser("duplicates", help="exact and near-duplicate images of a manifest: pairs, scores, labels")
    d.add_argument("--manifest", required=True, help="cohort manifest (.csv/.xlsx)")
    d.add_argument("--out", required=True, help="the pair report (.csv): id_a, id_b, score, exact, labels, group")
    d.add_argument("--threshold", type=real(0, 1, open_low=True, open_high=True), default=DUPLICATE_THRESHOLD,
                   help=f"thumbnail correlation above which two images are one lesion (default {DUPLICATE_THRESHOLD:g})")
    d.add_argument("--exclude-label", action="append", default=[], help="drop rows with this label (e.g. normal)")

    i = sub.add_parser("info", help="model configuration and parameter count")
    i.add_argument("--variant", choices=("seg+cls", "cls-only"), default="seg+cls")
    i.add_argument("--width", type=width, default=1.0,
                   help=f"channel width multiplier, {WIDTH_RANGE[0]:g} to {WIDTH_RANGE[1]:g} (default 1)")
    i.add_argument("--json", action="store_true")
    return parser


def add_duplicate_options(parser: argparse.ArgumentParser) -> None:
    """How a command that splits a cohort finds duplicate images (ynet train, the benchmark)."""
    parser.add_argument("--duplicate-threshold", type=real(0, 1, open_low=True, open_high=True),
                        default=DUPLICATE_THRESHOLD,
                        help="images whose 32x32 thumbnails correlate above this share a split group "
                             f"(default {DUPLICATE_THRESHOLD:g}; see `ynet duplicates`)")
    parser.add_argument("--keep-conflicts", action="store_true",
                        help="keep duplicate images that carry opposite labels (default: excluded, and named in "
                             "the run record)")


# The handlers import the network, the images and the trainer lazily: they need the `ynet`
# extra (torch, pillow, pydicom), and without it `ynet --help` must still work and a command
# must answer with the one line run_command gives for a missing extra.


def _cmd_duplicates(args) -> int:
    from .duplicates import find_duplicates
    from .manifest import read_manifest

    report = find_duplicates(read_manifest(args.manifest, exclude_labels=args.exclude_label, require_labels=False),
                             args.threshold)
    check_targets([args.out], [args.manifest])
    write_csv_atomic(args.out, report.to_frame())
    print(report.summary())
    print(f"written: {args.out}")
    return 0


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(variant=args.variant, folds=args.folds,
                      fold=args.fold, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      patience=args.patience, seed=args.seed, device=args.device, width=args.width,
                      image_size=args.image_size, dice_weight=args.dice_weight, augment=not args.no_augment,
                      class_balanced=args.class_balanced, select=args.select, head=args.head,
                      morphology=args.morphology, duplicate_threshold=args.duplicate_threshold,
                      drop_conflicts=not args.keep_conflicts,
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
    from tqdm import tqdm

    from .predict import predict_to_files

    bar = tqdm(unit=" images", desc="scoring", file=sys.stderr, disable=None)
    try:
        summary = predict_to_files(args.model, args.out, manifest=args.manifest, images=args.images or (),
                                   masks_dir=args.masks_dir, splits=args.splits, split=args.split, force=args.force,
                                   batch_size=args.batch_size, device=args.device,
                                   exclude_labels=args.exclude_label, tta=args.tta, progress=bar.update)
    finally:
        bar.close()
    print(summary.summary())
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
    args = parse_command_line(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handlers = {"train": _cmd_train, "predict": _cmd_predict, "info": _cmd_info, "duplicates": _cmd_duplicates}
    interrupted = ("the checkpoints written so far are kept; continue with --resume" if args.command == "train"
                   else "temporary files removed, no output written")
    # DataError (an InputError) and CheckpointError (a ValueError) are expected failures; torch is
    # imported only inside the handlers, so a missing extra is answered with its install line
    return run_command("ynet", lambda: handlers[args.command](args), debug=args.debug,
                       expected=(ValueError,), interrupted=interrupted, extra="ynet")


if __name__ == "__main__":
    sys.exit(main())
