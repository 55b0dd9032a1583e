# Copyright (c) mmcast contributors. All rights reserved.
from .leopart import Leopart

__all__ = ['Leopart']
