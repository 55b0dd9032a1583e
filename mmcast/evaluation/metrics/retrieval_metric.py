# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmcast.evaluation.functional import (boundary_counts, check_reduction,
                                          intersection_union,
                                          majority_labels, paint_segments,
                                          reduce_boundary, reduce_iou,
                                          segment_label_histogram,
                                          segment_retrieval)
from mmcast.evaluation.metrics.utils import (gt_map, level_index, level_map,
                                             num_classes_of, percent,
                                             segment_embeddings_of_level)
from mmcast.datasets.retrieval_dataset import ROLE_KEY
from mmcast.registry import register_metric


@register_metric
class SegmentRetrievalMetric(BaseMetric):
    """Unsupervised semantic segmentation by segment retrieval (SegSort,
    CAST Table 3a; registered in mmseg and mmpretrain).

    The dataset holds bank samples (a train split) and query samples (the
    evaluation split), told apart by the ``retrieval_role`` metainfo that
    :class:`~mmcast.datasets.SegmentRetrievalDataset` sets.  Every segment
    of the chosen level is embedded (mean L2-normalised feature).  Bank
    segments are labelled by the majority ground truth of their pixels
    (mostly void ones are dropped); every query segment takes the majority
    label of its ``k`` most cosine-similar bank segments (ties: lowest class
    id).  The painted query segmentation is scored by mIoU (pooled over the
    dataset by default, as for VOC) and boundary F.  Keys (percent):
    ``mIoU``, ``bF``, ``bP``, ``bR``.

    Args:
        level (int | str): segments per image of the retrieved level.
        k (int): neighbours. Defaults to 20.
        gt_key (str): ground-truth field. Defaults to ``'gt_sem_seg'``.
        num_classes (int, optional): by default from ``dataset_meta``.
        classes_key (str): metainfo key of the class names.
        ignore_index (int): Defaults to 255.
        min_valid_fraction (float): a bank segment whose labelled pixels are
            at most this share of it is dropped. Defaults to 0.5.
        reduction (str): ``'dataset'`` (default) or ``'image'``.
        boundary_tolerance (float, optional): pixels; default 0.0075 x the
            diagonal.
        collect_device (str), prefix (str): as mmengine's ``BaseMetric``.
    """
    default_prefix = 'retrieval'

    def __init__(self,
                 level: Union[int, str] = 8,
                 k: int = 20,
                 gt_key: str = 'gt_sem_seg',
                 num_classes: Optional[int] = None,
                 classes_key: str = 'classes',
                 ignore_index: int = 255,
                 min_valid_fraction: float = 0.5,
                 reduction: str = 'dataset',
                 boundary_tolerance: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.level = level
        self.k = k
        self.gt_key = gt_key
        self.num_classes = num_classes
        self.classes_key = classes_key
        self.ignore_index = ignore_index
        self.min_valid_fraction = min_valid_fraction
        self.reduction = check_reduction(reduction)
        self.boundary_tolerance = boundary_tolerance

    def process(self, data_batch: dict, data_samples: Sequence[dict]):
        num_classes = num_classes_of(self, self.classes_key)
        for sample in data_samples:
            role = sample.get(ROLE_KEY, 'query')
            if role not in ('bank', 'query'):
                raise ValueError(f"{ROLE_KEY} must be 'bank' or 'query', got "
                                 f'{role!r}')
            index = level_index(sample, self.level)
            segments = level_map(sample, index)
            num_segments = int(sample['unit_levels'][index].max()) + 1
            gt = gt_map(sample, self.gt_key)
            emb = segment_embeddings_of_level(sample, index, num_segments)
            if role == 'bank':
                hist = segment_label_histogram(segments, gt, num_classes,
                                               self.ignore_index,
                                               num_segments)
                sizes = np.bincount(segments[segments >= 0].ravel(),
                                    minlength=num_segments)[:num_segments]
                labels = majority_labels(hist, self.min_valid_fraction,
                                         sizes)
                keep = labels >= 0
                self.results.append(('bank', emb[keep].astype(np.float16),
                                     labels[keep]))
            else:
                small = np.int16 if num_segments < 2**15 else np.int32
                self.results.append(('query', emb.astype(np.float16),
                                     segments.astype(small),
                                     gt.astype(np.int16)))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        bank = [r for r in results if r[0] == 'bank']
        queries = [r for r in results if r[0] == 'query']
        if not bank or not sum(len(r[2]) for r in bank):
            raise ValueError(
                'segment retrieval needs labelled bank segments: evaluate on '
                "a SegmentRetrievalDataset (bank split + query split)")
        if not queries:
            raise ValueError('segment retrieval got no query sample')
        num_classes = num_classes_of(self, self.classes_key)
        bank_emb = np.concatenate([r[1] for r in bank]).astype(np.float32)
        bank_labels = np.concatenate([r[2] for r in bank])
        q_emb = np.concatenate([r[1] for r in queries]).astype(np.float32)
        names = segment_retrieval(q_emb, bank_emb, bank_labels, self.k,
                                  num_classes)
        inters, unions, counts, start = [], [], [], 0
        for _, emb, segments, gt in queries:
            seg_names = names[start:start + len(emb)]
            start += len(emb)
            segments, gt = segments.astype(np.int64), gt.astype(np.int64)
            pred = paint_segments(seg_names, segments)
            inter, union = intersection_union(pred, gt, num_classes,
                                              self.ignore_index)
            inters.append(inter)
            unions.append(union)
            counts.append(boundary_counts(pred, gt, self.boundary_tolerance,
                                          self.ignore_index))
        miou = reduce_iou(np.stack(inters), np.stack(unions), self.reduction)
        f, p, r = reduce_boundary(np.asarray(counts), self.reduction)
        metrics = dict(mIoU=percent(miou), bF=percent(f), bP=percent(p),
                       bR=percent(r))
        print_log(f'segment retrieval (level {self.level}, k={self.k}, bank '
                  f'{len(bank_emb)} segments of {len(bank)} images, '
                  f'{len(queries)} queries): {metrics}',
                  logger=MMLogger.get_current_instance())
        return metrics
