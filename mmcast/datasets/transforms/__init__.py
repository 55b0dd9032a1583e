# Copyright (c) mmcast contributors. All rights reserved.
from .image_labels import MaskToImageLabels, PackSegInputsWithImageLabels
from .multi_crop import MultiCropWithBoxes
from .part_annotations import LoadPartAnnotations, PackPartSegInputs
from .superpixel import Superpixels, compute_superpixels

__all__ = [
    'LoadPartAnnotations', 'MaskToImageLabels', 'MultiCropWithBoxes',
    'PackPartSegInputs', 'PackSegInputsWithImageLabels', 'Superpixels',
    'compute_superpixels'
]
