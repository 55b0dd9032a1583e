# Copyright (c) mmcast contributors. All rights reserved.
from .attention import MaskedSelfAttention, TransformerBlock
from .fps import farthest_point_sampling
from .hypercolumn import HypercolumnFusion, chain_assignments, unpool
from .superpixel_ops import (relabel_superpixels, resize_labels,
                             scatter_to_pixels, segment_mean,
                             upsampled_segment_mean)
from .superpixel_policy import (SUPERPIXEL_POLICIES, SuperpixelPolicy,
                                grid_superpixels, image_to_uint8)

__all__ = [
    'MaskedSelfAttention', 'TransformerBlock', 'farthest_point_sampling',
    'HypercolumnFusion', 'chain_assignments', 'unpool', 'relabel_superpixels',
    'resize_labels', 'scatter_to_pixels', 'segment_mean',
    'upsampled_segment_mean', 'SUPERPIXEL_POLICIES', 'SuperpixelPolicy',
    'grid_superpixels', 'image_to_uint8'
]
