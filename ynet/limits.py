"""Documented limits of the Y-Net options, in a module without torch (the CLI checks them
before anything heavy is imported; the model and the trainer check them again)."""

# channel width multiplier: 0.125 is the smallest model that keeps every ESP branch (4 channels
# per stage); 4 already has about 16x the paper's parameters. Beyond is refused, not allocated.
WIDTH_RANGE = (0.125, 4.0)
# network input size in pixels (a multiple of 8: the encoder halves it three times)
IMAGE_SIZE_RANGE = (32, 1024)
