# Copyright (c) mmcast contributors. All rights reserved.
from .graph_pool import GraphPool

__all__ = ['GraphPool']
