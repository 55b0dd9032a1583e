# Copyright (c) mmcast contributors. All rights reserved.
from .superpixel import Superpixels, compute_superpixels

__all__ = ['Superpixels', 'compute_superpixels']
