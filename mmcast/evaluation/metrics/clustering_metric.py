# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmcast.evaluation.functional import (hungarian_mapping,
                                          majority_labels,
                                          miou_from_confusion,
                                          segment_label_histogram)
from mmcast.evaluation.metrics.utils import (gt_map, level_index, level_map,
                                             num_classes_of, percent,
                                             segment_embeddings_of_level)
from mmcast.registry import register_metric


@register_metric
class ClusteringMetric(BaseMetric):
    """Clustering mIoU of segment embeddings over a dataset (Leopart's
    protocol; registered in mmseg and mmpretrain).

    The segments of one hierarchy level (``'units'``: the superpixels, or
    the ViT's patches) of every image are embedded (mean L2-normalised
    feature), all of the dataset's embeddings are clustered by k-means
    (faiss-cpu), every pixel takes its segment's cluster, and the clusters
    are mapped to classes on the dataset's cluster x class confusion matrix:

    - ``'hungarian'``: one-to-one (K = number of classes by default);
    - ``'many_to_one'``: each cluster to the class it overlaps most (over-
      clustering, e.g. K = 100 or 500).

    Reported (percent): ``mIoU`` per K, e.g. ``hungarian_mIoU@21``.

    Args:
        num_clusters (int | Sequence[int], optional): K (several: one score
            each); by default the number of classes.
        mode (str): ``'hungarian'`` or ``'many_to_one'``.
        level (int | str): segments of the clustered level. Defaults to
            ``'units'``.
        gt_key (str): ground-truth field. Defaults to ``'gt_sem_seg'``.
        num_classes (int, optional): by default from ``dataset_meta``.
        classes_key (str): metainfo key of the class names.
        ignore_index (int): Defaults to 255.
        kmeans_iters (int): Defaults to 100.
        seed (int): k-means seed. Defaults to 0.
        collect_device (str), prefix (str): as mmengine's ``BaseMetric``.
    """
    default_prefix = 'clustering'

    def __init__(self,
                 num_clusters: Optional[Union[int, Sequence[int]]] = None,
                 mode: str = 'hungarian',
                 level: Union[int, str] = 'units',
                 gt_key: str = 'gt_sem_seg',
                 num_classes: Optional[int] = None,
                 classes_key: str = 'classes',
                 ignore_index: int = 255,
                 kmeans_iters: int = 100,
                 seed: int = 0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if mode not in ('hungarian', 'many_to_one'):
            raise ValueError("mode must be 'hungarian' or 'many_to_one', "
                             f'got {mode!r}')
        if isinstance(num_clusters, int):
            num_clusters = [num_clusters]
        self.num_clusters = list(num_clusters) if num_clusters else None
        self.mode = mode
        self.level = level
        self.gt_key = gt_key
        self.num_classes = num_classes
        self.classes_key = classes_key
        self.ignore_index = ignore_index
        self.kmeans_iters = kmeans_iters
        self.seed = seed

    def process(self, data_batch: dict, data_samples: Sequence[dict]):
        num_classes = num_classes_of(self, self.classes_key)
        for sample in data_samples:
            index = level_index(sample, self.level)
            segments = level_map(sample, index)
            num_segments = int(sample['unit_levels'][index].max()) + 1
            hist = segment_label_histogram(segments, gt_map(
                sample, self.gt_key), num_classes, self.ignore_index,
                num_segments)
            emb = segment_embeddings_of_level(sample, index, num_segments)
            seen = hist.sum(1) > 0  # segments with labelled pixels
            self.results.append((emb[seen], hist[seen].astype(np.int32)))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        from mmcast.models.segmentors.vit_kmeans_hierarchy import kmeans
        emb = np.concatenate([r[0] for r in results])
        hist = np.concatenate([r[1] for r in results]).astype(np.int64)
        num_classes = hist.shape[1]
        metrics = {}
        for k in self.num_clusters or [num_classes]:
            clusters, _ = kmeans(emb, k, self.kmeans_iters, self.seed)
            confusion = np.zeros((k, num_classes), np.int64)
            np.add.at(confusion, clusters, hist)
            mapping = hungarian_mapping(confusion) \
                if self.mode == 'hungarian' else majority_labels(confusion)
            metrics[f'{self.mode}_mIoU@{k}'] = percent(
                miou_from_confusion(confusion, mapping))
        print_log(f'clustering ({self.mode}, level {self.level}, '
                  f'{len(emb)} segments of {len(results)} images): '
                  f'{metrics}', logger=MMLogger.get_current_instance())
        return metrics
