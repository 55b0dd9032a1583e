# Copyright (c) mmcast contributors. All rights reserved.
from .multi_crop import MultiCropWithBoxes
from .part_annotations import LoadPartAnnotations, PackPartSegInputs
from .superpixel import Superpixels, compute_superpixels

__all__ = [
    'LoadPartAnnotations', 'MultiCropWithBoxes', 'PackPartSegInputs',
    'Superpixels', 'compute_superpixels'
]
