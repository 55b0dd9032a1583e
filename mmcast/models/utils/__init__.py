# Copyright (c) mmcast contributors. All rights reserved.
from .attention import MaskedSelfAttention, TransformerBlock
from .centroid_sampling import random_token_sampling
from .fps import farthest_point_sampling
from .hypercolumn import HypercolumnFusion, chain_assignments, unpool
from .stem import build_stem
from .superpixel_ops import (relabel_superpixels, resize_labels,
                             scatter_to_pixels, segment_mean,
                             upsampled_segment_mean)
from .token_pool import TokenPool, build_token_pool

__all__ = [
    'MaskedSelfAttention', 'TransformerBlock', 'farthest_point_sampling',
    'random_token_sampling', 'HypercolumnFusion', 'chain_assignments',
    'unpool', 'build_stem', 'relabel_superpixels', 'resize_labels',
    'scatter_to_pixels', 'segment_mean', 'upsampled_segment_mean',
    'TokenPool', 'build_token_pool'
]
