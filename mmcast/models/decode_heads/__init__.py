# Copyright (c) mmcast contributors. All rights reserved.
from .hypercolumn_head import HypercolumnUnpoolHead

__all__ = ['HypercolumnUnpoolHead']
