# Copyright (c) mmcast contributors. All rights reserved.
"""Loading and packing object and part masks together (PartImageNet)."""
import mmcv
import mmengine
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs

from mmcast.registry import register_transform


@register_transform
class LoadPartAnnotations(BaseTransform):
    """Load a part mask and derive the object mask from it.

    Required keys: ``seg_map_path``, ``part_to_object`` (the part -> object
    table, one entry per part id; :class:`~mmcast.datasets.
    PartImageNetDataset` adds it).  Added keys: ``gt_part_seg_map`` (part
    ids), ``gt_seg_map`` (object ids), both ``(H, W)`` uint8; ids outside
    the table become ``ignore_index``.  Both are listed in ``seg_fields``
    so geometric transforms move them together.

    Args:
        ignore_index (int): Defaults to 255.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, ignore_index: int = 255, backend_args=None):
        self.ignore_index = ignore_index
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        raw = mmengine.fileio.get(results['seg_map_path'], self.backend_args)
        parts = mmcv.imfrombytes(raw, flag='unchanged',
                                 backend='pillow').squeeze()
        if parts.ndim != 2:
            raise ValueError(f"{results['seg_map_path']}: a part mask must "
                             f'be a single-channel image, got {parts.shape}')
        table = np.asarray(results['part_to_object'], np.int64)
        lut = np.full(256, self.ignore_index, np.int64)
        lut[:len(table)] = table
        parts = parts.astype(np.int64)
        parts = np.where(parts < len(table), parts, self.ignore_index)
        results['gt_part_seg_map'] = parts.astype(np.uint8)
        results['gt_seg_map'] = lut[np.minimum(parts, 255)].astype(np.uint8)
        results.setdefault('seg_fields', [])
        results['seg_fields'] += ['gt_seg_map', 'gt_part_seg_map']
        return results


@register_transform
class PackPartSegInputs(PackSegInputs):
    """mmseg's ``PackSegInputs`` that also packs ``gt_part_seg_map`` as the
    data sample's ``gt_part_seg`` (``PixelData``, ``(1, H, W)``)."""

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'gt_part_seg_map' in results:
            part = results['gt_part_seg_map'][None].astype(np.int64)
            packed['data_samples'].set_data(
                dict(gt_part_seg=PixelData(data=torch.from_numpy(part))))
        return packed
