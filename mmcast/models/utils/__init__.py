# Copyright (c) mmcast contributors. All rights reserved.
from .attention import MaskedSelfAttention, TransformerBlock
from .category_memory import CategoryMemory, gather_writes
from .centroid_sampling import random_token_sampling
from .crop_alignment import align_to_box, overlap_boxes
from .dense_features import dense_features
from .foreground import attention_foreground
from .fps import farthest_point_sampling
from .hypercolumn import HypercolumnFusion, chain_assignments, unpool
from .sinkhorn import sinkhorn_knopp
from .stem import build_stem
from .superpixel_ops import (relabel_superpixels, resize_labels,
                             scatter_to_pixels, segment_mean,
                             upsampled_segment_mean)
from .superpixel_policy import (SUPERPIXEL_POLICIES, SuperpixelPolicy,
                                grid_superpixels, image_to_uint8)
from .token_pool import TokenPool, build_token_pool

__all__ = [
    'CategoryMemory', 'gather_writes', 'MaskedSelfAttention',
    'TransformerBlock', 'farthest_point_sampling',
    'random_token_sampling', 'HypercolumnFusion', 'chain_assignments',
    'unpool', 'build_stem', 'relabel_superpixels', 'resize_labels',
    'scatter_to_pixels', 'segment_mean', 'upsampled_segment_mean',
    'align_to_box', 'overlap_boxes', 'dense_features',
    'attention_foreground', 'sinkhorn_knopp', 'SUPERPIXEL_POLICIES',
    'SuperpixelPolicy', 'grid_superpixels', 'image_to_uint8', 'TokenPool',
    'build_token_pool'
]
