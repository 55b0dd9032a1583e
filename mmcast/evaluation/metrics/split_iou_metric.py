# Copyright (c) mmcast contributors. All rights reserved.
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmseg.evaluation import IoUMetric

from mmcast.registry import register_metric


@register_metric
class SplitIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` plus the mIoU over a base and a novel class
    split (LarvSeg's "All / Base / Novel" columns; registered in mmseg and
    mmpretrain).

    Per-class IoU is mmseg's (accumulated over the dataset); each split's
    mIoU is the mean over its classes, classes with no ground truth and no
    prediction (NaN IoU) left out as in ``mIoU``.  Reported beside
    ``IoUMetric``'s keys (percent): ``mIoU_base``, ``mIoU_novel``.

    Args:
        novel_classes (Sequence[str], optional): names of the novel
            classes (image-level labels only in training).
        base_classes (Sequence[str], optional): names of the base classes
            (with masks).  Give one of the two: the other split is the rest
            of ``dataset_meta['classes']``.
        per_class (bool): also return every class's IoU as
            ``IoU.<class>``. Defaults to False.
        **kwargs: :class:`mmseg.evaluation.IoUMetric` arguments.
    """

    def __init__(self,
                 novel_classes: Optional[Sequence[str]] = None,
                 base_classes: Optional[Sequence[str]] = None,
                 per_class: bool = False,
                 **kwargs):
        if (novel_classes is None) == (base_classes is None):
            raise ValueError('SplitIoUMetric needs exactly one of '
                             'novel_classes and base_classes')
        super().__init__(**kwargs)
        self.novel_classes = None if novel_classes is None else \
            list(novel_classes)
        self.base_classes = None if base_classes is None else \
            list(base_classes)
        self.per_class = per_class

    def split_indices(self, classes: Sequence[str]) -> Dict[str, List[int]]:
        """Indices of the base and novel classes in ``classes``."""
        given = self.novel_classes if self.novel_classes is not None \
            else self.base_classes
        unknown = [c for c in given if c not in classes]
        if unknown:
            raise ValueError(f'SplitIoUMetric: classes not in the dataset: '
                             f'{unknown[:5]}')
        chosen = [i for i, c in enumerate(classes) if c in set(given)]
        rest = [i for i in range(len(classes)) if i not in set(chosen)]
        if self.novel_classes is not None:
            return dict(base=rest, novel=chosen)
        return dict(base=chosen, novel=rest)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        intersect = sum(r[0] for r in results).cpu().numpy()
        union = sum(r[1] for r in results).cpu().numpy()
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = intersect / union
        splits = self.split_indices(self.dataset_meta['classes'])
        out = OrderedDict(metrics)
        for name, idx in splits.items():
            vals = iou[idx]
            out[f'mIoU_{name}'] = float(np.round(np.nanmean(vals) * 100, 2)) \
                if len(idx) and not np.isnan(vals).all() else float('nan')
        if self.per_class:
            out.update((f'IoU.{c}', float(np.round(v * 100, 2)))
                       for c, v in zip(self.dataset_meta['classes'], iou))
        print_log(f"mIoU all/base/novel: {out['mIoU']} / "
                  f"{out['mIoU_base']} / {out['mIoU_novel']} "
                  f"({len(splits['base'])} base, {len(splits['novel'])} "
                  'novel classes)', logger='current')
        return out
