# Copyright (c) mmcast contributors. All rights reserved.
from .seg_data_preprocessor import CASTSegDataPreProcessor

__all__ = ['CASTSegDataPreProcessor']
