# Copyright (c) mmcast contributors. All rights reserved.
from .hypercolumn_head import HypercolumnUnpoolHead
from .larvseg_head import LarvSegHead

__all__ = ['HypercolumnUnpoolHead', 'LarvSegHead']
