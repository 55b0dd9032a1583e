# Copyright (c) mmcast contributors. All rights reserved.
from .image_set import ImageSetDataset
from .imagenet_subset import ImageNetSubset
from .partimagenet import PartImageNetDataset
from .retrieval_dataset import SegmentRetrievalDataset
from .toy_scenes import ToyScenesDataset, generate_toy_scenes
from .transforms import *  # noqa: F401,F403

__all__ = [
    'ImageNetSubset', 'ImageSetDataset', 'PartImageNetDataset',
    'SegmentRetrievalDataset', 'ToyScenesDataset', 'generate_toy_scenes'
]
