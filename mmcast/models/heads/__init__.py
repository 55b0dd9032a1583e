# Copyright (c) mmcast contributors. All rights reserved.
from .leopart_head import LeopartHead

__all__ = ['LeopartHead']
