"""Documented limits and defaults of the Y-Net options, in a module without torch (the CLIs
check them before anything heavy is imported; the model and the trainer check them again)."""

import argparse

from reportmine.core.arguments import real, whole

# channel width multiplier: 0.125 is the smallest model that keeps every ESP branch (4 channels
# per stage); 4 already has about 16x the paper's parameters. Beyond is refused, not allocated.
WIDTH_RANGE = (0.125, 4.0)
# network input size in pixels (a multiple of 8: the encoder halves it three times)
IMAGE_SIZE_RANGE = (32, 1024)
# weight of the soft Dice term added to the mask's cross-entropy. The paper trains on
# cross-entropy alone (0); 1 is the default because it raised the median Dice on the inner
# validation parts of every cross-validated fit (reports/benchmarks/ynet_options.md).
DICE_WEIGHT = 1.0
# thumbnail correlation above which two images are one lesion and share a split group
# (chosen on the BUSI images: see ynet.duplicates)
DUPLICATE_THRESHOLD = 0.93


def image_size(text: str) -> int:
    """An argparse type: --image-size, a multiple of 8 in :data:`IMAGE_SIZE_RANGE`."""
    value = whole(*IMAGE_SIZE_RANGE)(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"{text!r} must be a multiple of 8 (the encoder halves it three times)")
    return value


#: An argparse type: --width, in :data:`WIDTH_RANGE`.
width = real(*WIDTH_RANGE)
