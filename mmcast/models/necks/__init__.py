# Copyright (c) mmcast contributors. All rights reserved.
from .graph_pool import GraphPool
from .graph_pool_neck import GraphPoolNeck
from .identity_pool import IdentityPool
from .kmeans_pool import KMeansPool
from .random_sampling_pool import RandomSamplingPool
from .tome_pool import ToMePool

__all__ = [
    'GraphPool', 'KMeansPool', 'RandomSamplingPool', 'ToMePool',
    'IdentityPool', 'GraphPoolNeck'
]
