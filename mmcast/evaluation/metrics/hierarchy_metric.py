# Copyright (c) mmcast contributors. All rights reserved.
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmcast.evaluation.functional import (boundary_counts, check_reduction,
                                          intersection_union,
                                          majority_labels, paint_segments,
                                          reduce_boundary, reduce_iou,
                                          segment_label_histogram)
from mmcast.evaluation.metrics.utils import (gt_map, level_index, level_map,
                                             num_classes_of, percent)
from mmcast.registry import register_metric


@register_metric
class HierarchyMetric(BaseMetric):
    """Region mIoU and boundary F-score of hierarchy levels (registered in
    mmseg and mmpretrain).

    Every segment of a level is named, by the oracle (the ground-truth class
    covering most of its pixels) or by a namer, then scored against the
    ground truth as a semantic segmentation (region mIoU); the level's
    boundaries are scored against the ground truth's (boundary F, see
    :func:`mmcast.evaluation.functional.boundary_fscore`).  Levels are
    chosen by their number of segments (``8`` for objects and ``16`` for
    parts in the paper).  Scores are percent, like mmseg's ``IoUMetric``:
    ``mIoU@8``, ``bF@8``, ``bP@8``, ``bR@8``.

    Args:
        levels (Sequence[int | str]): segment counts of the levels to score
            (``'units'`` for level 0, the superpixels). Defaults to ``(8,)``.
        gt_key (str): the data sample field holding the ground truth, e.g.
            ``'gt_sem_seg'`` (objects) or ``'gt_part_seg'`` (PartImageNet
            parts).
        num_classes (int, optional): by default the length of the dataset
            metainfo's ``classes_key``.
        classes_key (str): metainfo key of the class names. Defaults to
            ``'classes'``.
        ignore_index (int): Defaults to 255.
        labeller (str | callable | dict): ``'oracle'`` (default), or a namer
            called as ``namer(image, masks)`` with the ``(H, W, 3)`` uint8
            RGB image and ``(S, H, W)`` bool segment masks, returning ``(S,
            num_classes)`` class scores (e.g. an open-vocabulary classifier
            on the masked image); a dict is built with mmseg's ``MODELS``.
        reduction (str): ``'image'`` (per image, then the mean; Table 1) or
            ``'dataset'`` (pooled over the dataset).
        boundary_tolerance (float, optional): pixels; by default 0.0075 x
            the image diagonal.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): prefix of the reported keys.
    """
    default_prefix = 'hierarchy'

    def __init__(self,
                 levels: Sequence[Union[int, str]] = (8, ),
                 gt_key: str = 'gt_sem_seg',
                 num_classes: Optional[int] = None,
                 classes_key: str = 'classes',
                 ignore_index: int = 255,
                 labeller: Union[str, Callable, dict] = 'oracle',
                 reduction: str = 'image',
                 boundary_tolerance: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(labeller, dict):
            from mmseg.registry import MODELS
            labeller = MODELS.build(labeller)
        if labeller != 'oracle' and not callable(labeller):
            raise ValueError("labeller must be 'oracle', a callable namer or "
                             f'a config of one, got {labeller!r}')
        self.levels = list(levels)
        self.gt_key = gt_key
        self.num_classes = num_classes
        self.classes_key = classes_key
        self.ignore_index = ignore_index
        self.labeller = labeller
        self.reduction = check_reduction(reduction)
        self.boundary_tolerance = boundary_tolerance

    def _names(self, sample: dict, segments: np.ndarray, gt: np.ndarray,
               num_classes: int) -> np.ndarray:
        """Class of every segment id of ``segments``."""
        if self.labeller == 'oracle':
            return majority_labels(segment_label_histogram(
                segments, gt, num_classes, self.ignore_index))
        import mmcv
        image = mmcv.imread(sample['img_path'], channel_order='rgb')
        ids = np.arange(int(segments.max()) + 1)
        masks = segments[None] == ids[:, None, None]
        scores = np.asarray(self.labeller(image, masks))
        if scores.shape != (len(ids), num_classes):
            raise ValueError(f'the namer returned scores of shape '
                             f'{scores.shape}, expected {(len(ids), num_classes)}')
        return scores.argmax(1).astype(np.int64)

    def process(self, data_batch: dict, data_samples: Sequence[dict]):
        num_classes = num_classes_of(self, self.classes_key)
        for sample in data_samples:
            gt = gt_map(sample, self.gt_key)
            per_level = []
            for level in self.levels:
                segments = level_map(sample, level_index(sample, level))
                names = self._names(sample, segments, gt, num_classes)
                inter, union = intersection_union(
                    paint_segments(names, segments), gt, num_classes,
                    self.ignore_index)
                counts = boundary_counts(segments, gt,
                                         self.boundary_tolerance,
                                         self.ignore_index)
                per_level.append((inter, union, np.asarray(counts)))
            self.results.append(per_level)

    def compute_metrics(self, results: List) -> Dict[str, float]:
        metrics, rows = {}, []
        for i, level in enumerate(self.levels):
            inters = np.stack([r[i][0] for r in results])
            unions = np.stack([r[i][1] for r in results])
            counts = np.stack([r[i][2] for r in results])
            miou = reduce_iou(inters, unions, self.reduction)
            f, p, r = reduce_boundary(counts, self.reduction)
            values = dict(mIoU=miou, bF=f, bP=p, bR=r)
            metrics.update({f'{k}@{level}': percent(v)
                            for k, v in values.items()})
            rows.append((level, *(percent(v) for v in values.values())))
        logger = MMLogger.get_current_instance()
        table = '\n'.join(
            [f'{"segments":>9} {"mIoU":>7} {"bF":>7} {"bP":>7} {"bR":>7}'] +
            [f'{lv!s:>9} {m:7.2f} {f:7.2f} {p:7.2f} {r:7.2f}'
             for lv, m, f, p, r in rows])
        print_log(f'hierarchy ({self.gt_key}, {self.reduction}, '
                  f'{len(results)} images):\n{table}', logger=logger)
        return metrics
