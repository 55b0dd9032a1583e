# Copyright (c) mmcast contributors. All rights reserved.
from .hierarchy_visualizer import (HierarchyVisualizer, coarse_hues,
                                   colorize_level, label_boundaries)
from .prediction_panel import (class_legend, classification_panel,
                               segmentation_panel)

__all__ = [
    'HierarchyVisualizer', 'class_legend', 'classification_panel',
    'coarse_hues', 'colorize_level', 'label_boundaries', 'segmentation_panel'
]
