# Copyright (c) mmcast contributors. All rights reserved.
from .graph_pool import GraphPool
from .identity_pool import IdentityPool
from .kmeans_pool import KMeansPool
from .random_sampling_pool import RandomSamplingPool
from .token_pool import TokenPool, build_token_pool
from .tome_pool import ToMePool

__all__ = [
    'TokenPool', 'build_token_pool', 'GraphPool', 'KMeansPool',
    'RandomSamplingPool', 'ToMePool', 'IdentityPool'
]
