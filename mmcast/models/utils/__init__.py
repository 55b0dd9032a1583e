# Copyright (c) mmcast contributors. All rights reserved.
from .attention import MaskedSelfAttention, TransformerBlock
from .category_memory import CategoryMemory, gather_writes
from .fps import farthest_point_sampling
from .hypercolumn import HypercolumnFusion, chain_assignments, unpool
from .superpixel_ops import (relabel_superpixels, resize_labels,
                             scatter_to_pixels, segment_mean,
                             upsampled_segment_mean)

__all__ = [
    'CategoryMemory', 'gather_writes', 'MaskedSelfAttention',
    'TransformerBlock', 'farthest_point_sampling',
    'HypercolumnFusion', 'chain_assignments', 'unpool', 'relabel_superpixels',
    'resize_labels', 'scatter_to_pixels', 'segment_mean',
    'upsampled_segment_mean'
]
