# Copyright (c) mmcast contributors. All rights reserved.
"""Image-level labels: derived from a mask ("weak" segmentation data, as
LarvSeg's WA150) and packed into the data sample."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.datasets.transforms import PackSegInputs

from mmcast.registry import register_transform


@register_transform
class MaskToImageLabels(BaseTransform):
    """Turn the mask into the image-level labels of the classes it shows,
    and (by default) drop the mask, so the sample trains as a
    classification image.

    Put it after the geometric transforms to label what the crop shows
    (LarvSeg's release derives WA150's labels from the cropped mask).

    Required keys: ``gt_seg_map``.  Added keys: ``gt_image_labels``
    (sorted int64 array).  Removed (``keep_mask=False``): ``gt_seg_map``
    and its ``seg_fields`` entry.

    Args:
        ignore_index (int): label that is no class. Defaults to 255.
        min_pixels (int): a class is present if it covers at least this
            many pixels. Defaults to 1.
        keep_mask (bool): keep ``gt_seg_map``. Defaults to False.
    """

    def __init__(self, ignore_index: int = 255, min_pixels: int = 1,
                 keep_mask: bool = False):
        if min_pixels < 1:
            raise ValueError(f'min_pixels must be >= 1, got {min_pixels}')
        self.ignore_index = ignore_index
        self.min_pixels = min_pixels
        self.keep_mask = keep_mask

    def transform(self, results: dict) -> dict:
        if 'gt_seg_map' not in results:
            raise KeyError('MaskToImageLabels needs gt_seg_map: put it after '
                           'LoadAnnotations')
        ids, counts = np.unique(results['gt_seg_map'], return_counts=True)
        keep = (ids != self.ignore_index) & (counts >= self.min_pixels)
        results['gt_image_labels'] = ids[keep].astype(np.int64)
        if not self.keep_mask:
            del results['gt_seg_map']
            if 'gt_seg_map' in results.get('seg_fields', []):
                results['seg_fields'].remove('gt_seg_map')
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(ignore_index={self.ignore_index}'
                f', min_pixels={self.min_pixels}, '
                f'keep_mask={self.keep_mask})')


@register_transform
class PackSegInputsWithImageLabels(PackSegInputs):
    """mmseg's ``PackSegInputs`` that also packs ``gt_image_labels`` (from
    :class:`MaskToImageLabels` or a classification dataset) as the data
    sample's ``gt_image_labels`` field, an int64 tensor ``(L,)``.

    The field is a data field of ``SegDataSample``: it goes through
    mmengine's collate, mmseg's ``SegDataPreProcessor`` and mmcast's
    ``CASTSegDataPreProcessor`` unchanged.
    """

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'gt_image_labels' in results:
            labels = np.asarray(results['gt_image_labels'], np.int64)
            packed['data_samples'].gt_image_labels = torch.from_numpy(
                labels.reshape(-1))
        return packed
