# Copyright (c) mmcast contributors. All rights reserved.
from .hierarchy_visualizer import (HierarchyVisualizer, coarse_hues,
                                   colorize_level, label_boundaries)

__all__ = [
    'HierarchyVisualizer', 'coarse_hues', 'colorize_level',
    'label_boundaries'
]
