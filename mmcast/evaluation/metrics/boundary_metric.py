# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmcast.evaluation.functional import (boundary_counts, check_reduction,
                                         reduce_boundary)
from mmcast.evaluation.metrics.utils import gt_map, percent
from mmcast.registry import register_metric


@register_metric
class BoundaryFMetric(BaseMetric):
    """Boundary F-score of a semantic segmentation (registered in mmseg and
    mmpretrain).

    The paper reports it beside region mIoU after fine-tuning (Table 3a,
    3b); put it next to mmseg's ``IoUMetric`` in ``val_evaluator``.  The
    predicted and true class maps are compared as
    :func:`~mmcast.evaluation.functional.boundary_fscore` does (BSDS-style
    tolerance, ignore pixels excluded).  Keys (percent): ``bF``, ``bP``,
    ``bR``.

    Args:
        pred_key (str): predicted field. Defaults to ``'pred_sem_seg'``.
        gt_key (str): ground-truth field. Defaults to ``'gt_sem_seg'``.
        ignore_index (int): Defaults to 255.
        reduction (str): ``'dataset'`` (pooled counts, as VOC's mIoU;
            default) or ``'image'``.
        boundary_tolerance (float, optional): pixels; default 0.0075 x the
            diagonal.
        collect_device (str), prefix (str): as mmengine's ``BaseMetric``.
    """

    def __init__(self,
                 pred_key: str = 'pred_sem_seg',
                 gt_key: str = 'gt_sem_seg',
                 ignore_index: int = 255,
                 reduction: str = 'dataset',
                 boundary_tolerance: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.ignore_index = ignore_index
        self.reduction = check_reduction(reduction)
        self.boundary_tolerance = boundary_tolerance

    def process(self, data_batch: dict, data_samples: Sequence[dict]):
        for sample in data_samples:
            if self.pred_key not in sample:
                raise KeyError(f'the data samples have no {self.pred_key!r}: '
                               'evaluate a segmentor (EncoderDecoder)')
            pred = gt_map(sample, self.pred_key)
            gt = gt_map(sample, self.gt_key)
            self.results.append(boundary_counts(
                pred, gt, self.boundary_tolerance, self.ignore_index))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        f, p, r = reduce_boundary(np.asarray(results), self.reduction)
        return dict(bF=percent(f), bP=percent(p), bR=percent(r))
