# Copyright (c) mmcast contributors. All rights reserved.
from .multi_source_sampler import MultiSourceSampler, interleave

__all__ = ['MultiSourceSampler', 'interleave']
