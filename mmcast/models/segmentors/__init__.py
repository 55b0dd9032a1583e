# Copyright (c) mmcast contributors. All rights reserved.
from .hierarchy_segmentor import HierarchySegmentor, cast_hierarchy
from .vit_kmeans_hierarchy import ViTKMeansHierarchy, nested_kmeans

__all__ = [
    'HierarchySegmentor', 'ViTKMeansHierarchy', 'cast_hierarchy',
    'nested_kmeans'
]
