# Copyright (c) mmcast contributors. All rights reserved.
from .part_annotations import LoadPartAnnotations, PackPartSegInputs
from .superpixel import Superpixels, compute_superpixels

__all__ = [
    'LoadPartAnnotations', 'PackPartSegInputs', 'Superpixels',
    'compute_superpixels'
]
