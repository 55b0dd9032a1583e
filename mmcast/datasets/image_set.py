# Copyright (c) mmcast contributors. All rights reserved.
import os.path as osp

from mmengine.fileio import get_file_backend, list_from_file
from mmpretrain.datasets import CustomDataset

from mmcast.registry import register_pretrain_dataset


@register_pretrain_dataset
class ImageSetDataset(CustomDataset):
    """Unlabelled images named by a split file of ids (registered in
    mmpretrain), e.g. Pascal VOC's
    ``ImageSets/Segmentation/trainaug.txt`` over ``JPEGImages``, for
    self-supervised training on one split of a segmentation dataset.

    Args:
        ann_file (str): the split file, one image id per line (no
            extension).
        data_prefix (str | dict): the image folder.
        img_suffix (str): appended to every id. Defaults to ``'.jpg'``.
        **kwargs: other arguments of :class:`mmpretrain.datasets.
            CustomDataset` (``data_root``, ``pipeline``...).

    Raises:
        FileNotFoundError: (when loading) the split file is missing.
    """

    def __init__(self, ann_file: str, img_suffix: str = '.jpg', **kwargs):
        self.img_suffix = img_suffix
        super().__init__(ann_file=ann_file, with_label=False, **kwargs)

    def load_data_list(self):
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'no split file at {self.ann_file}')
        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        return [
            dict(img_path=backend.join_path(self.img_prefix,
                                            name + self.img_suffix))
            for name in (line.strip() for line in
                         list_from_file(self.ann_file)) if name
        ]
