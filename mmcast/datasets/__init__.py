# Copyright (c) mmcast contributors. All rights reserved.
from .image_label_folder import ImageLabelFolderDataset
from .image_set import ImageSetDataset
from .imagenet_subset import ImageNetSubset
from .multi_source_dataset import MultiSourceSegDataset
from .partimagenet import PartImageNetDataset
from .retrieval_dataset import SegmentRetrievalDataset
from .samplers import *  # noqa: F401,F403
from .toy_scenes import ToyScenesDataset, generate_toy_scenes
from .transforms import *  # noqa: F401,F403

__all__ = [
    'ImageLabelFolderDataset', 'ImageNetSubset', 'ImageSetDataset',
    'MultiSourceSegDataset', 'PartImageNetDataset', 'SegmentRetrievalDataset',
    'ToyScenesDataset', 'generate_toy_scenes'
]
