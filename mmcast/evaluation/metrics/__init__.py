# Copyright (c) mmcast contributors. All rights reserved.
from .boundary_metric import BoundaryFMetric
from .clustering_metric import ClusteringMetric
from .hierarchy_metric import HierarchyMetric
from .retrieval_metric import SegmentRetrievalMetric
from .split_iou_metric import SplitIoUMetric

__all__ = [
    'BoundaryFMetric', 'ClusteringMetric', 'HierarchyMetric',
    'SegmentRetrievalMetric', 'SplitIoUMetric'
]
