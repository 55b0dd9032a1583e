# Copyright (c) mmcast contributors. All rights reserved.
"""What the hierarchy metrics read from a predicted data sample.

The data samples come from
:class:`~mmcast.models.segmentors.HierarchySegmentor` (or the ViT + k-means
baseline) through mmengine's evaluator, converted to dicts: ``pred_levels``
``{'data': (L+1, H, W)}``, ``level_sizes`` (segments per level), and with
embeddings ``unit_levels`` ``(L+1, N0)``, ``unit_embeddings`` ``(N0, C)``,
``unit_weights`` ``(N0,)``.
"""
from typing import Union

import numpy as np
import torch

from mmcast.evaluation.functional import segment_embeddings

MISSING_LEVELS = ('the data samples carry no hierarchy (pred_levels): '
                  "evaluate a model of type 'HierarchySegmentor' or "
                  "'ViTKMeansHierarchy' with this metric")


def level_index(sample: dict, level: Union[int, str]) -> int:
    """Index of the level with ``level`` segments (``'units'``: level 0).

    Raises a one-line error naming the levels the sample has.
    """
    if 'pred_levels' not in sample:
        raise KeyError(MISSING_LEVELS)
    if level == 'units':
        return 0
    sizes = list(sample['level_sizes'])
    # Level 0 (units) has a per-image count: match the cluster levels first.
    for i in range(len(sizes) - 1, 0, -1):
        if int(sizes[i]) == int(level):
            return i
    raise ValueError(f'no level with {level} segments: this model gives '
                     f"'units' and {[int(s) for s in sizes[1:]]}")


def level_map(sample: dict, index: int) -> np.ndarray:
    """``(H, W)`` int64 segment map of one level at the original size."""
    return sample['pred_levels']['data'][index].cpu().numpy()


def gt_map(sample: dict, key: str) -> np.ndarray:
    """``(H, W)`` int64 ground truth of ``key`` (e.g. ``'gt_sem_seg'``)."""
    if key not in sample:
        raise KeyError(f'the data samples have no {key!r}: load it in the '
                       'pipeline (LoadAnnotations, or the part annotations '
                       'for PartImageNet)')
    return sample[key]['data'].squeeze(0).cpu().numpy().astype(np.int64)


def segment_embeddings_of_level(sample: dict, index: int,
                                num_segments: int) -> np.ndarray:
    """``(S, C)`` float32 embeddings of a level's segments (the mean
    L2-normalised feature of their pixels)."""
    if 'unit_embeddings' not in sample:
        raise KeyError('the data samples carry no embeddings: build the '
                       'hierarchy model with with_embeddings=True')
    return segment_embeddings(
        to_numpy(sample['unit_embeddings']).astype(np.float32),
        to_numpy(sample['unit_levels'][index]), num_segments,
        weights=to_numpy(sample['unit_weights']), normalize=False)


def num_classes_of(metric, key: str = 'classes') -> int:
    """The class count of a metric: given, or from ``dataset_meta``."""
    if metric.num_classes is not None:
        return int(metric.num_classes)
    meta = metric.dataset_meta or {}
    if key not in meta:
        raise ValueError(f'{type(metric).__name__} needs num_classes or a '
                         f"dataset whose metainfo has {key!r}")
    return len(meta[key])


def percent(x: float) -> float:
    """A [0, 1] score as mmseg reports it: percent, two decimals."""
    return float(np.round(x * 100, 2)) if np.isfinite(x) else float('nan')


def to_numpy(x) -> np.ndarray:
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
