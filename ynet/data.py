"""One import path for the data layer, split by job into four modules:

* :mod:`ynet.images` — reading images and masks (:class:`DataError` for bad files);
* :mod:`ynet.preprocess` — overlay removal, field crop, resize, standardisation;
* :mod:`ynet.manifest` — the cohort manifest (:class:`Node`, :class:`Manifest`);
* :mod:`ynet.dataset` — the in-memory cohort, augmentation and the torch dataset.
"""

from .dataset import Augmentation, NodeDataset, PreparedCohort, augment
from .images import IMAGE_SUFFIXES, DataError, read_image, read_mask
from .manifest import LABEL_NAMES, Manifest, Node, read_manifest
from .preprocess import (
    Prepared,
    Preprocessing,
    field_box,
    fill_from_neighbourhood,
    overlay_mask,
    preprocess,
    restore_mask,
    standardise,
)

__all__ = [
    "IMAGE_SUFFIXES", "LABEL_NAMES", "Augmentation", "DataError", "Manifest", "Node", "NodeDataset",
    "Prepared", "PreparedCohort", "Preprocessing", "augment", "field_box", "fill_from_neighbourhood",
    "overlay_mask", "preprocess", "read_image", "read_manifest", "read_mask", "restore_mask", "standardise",
]
