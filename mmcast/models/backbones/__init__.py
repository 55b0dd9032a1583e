# Copyright (c) mmcast contributors. All rights reserved.
from .cast import CAST

__all__ = ['CAST']
