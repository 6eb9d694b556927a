"""Documented limits of the Y-Net options, in a module without torch (the CLIs check them
before anything heavy is imported; the model and the trainer check them again)."""

import argparse

from reportmine.core.arguments import real, whole

# channel width multiplier: 0.125 is the smallest model that keeps every ESP branch (4 channels
# per stage); 4 already has about 16x the paper's parameters. Beyond is refused, not allocated.
WIDTH_RANGE = (0.125, 4.0)
# network input size in pixels (a multiple of 8: the encoder halves it three times)
IMAGE_SIZE_RANGE = (32, 1024)


def image_size(text: str) -> int:
    """An argparse type: --image-size, a multiple of 8 in :data:`IMAGE_SIZE_RANGE`."""
    value = whole(*IMAGE_SIZE_RANGE)(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"{text!r} must be a multiple of 8 (the encoder halves it three times)")
    return value


#: An argparse type: --width, in :data:`WIDTH_RANGE`.
width = real(*WIDTH_RANGE)
