# Copyright (c) mmcast contributors. All rights reserved.
from .cls_data_preprocessor import CASTClsDataPreProcessor
from .seg_data_preprocessor import CASTSegDataPreProcessor
from .selfsup_data_preprocessor import CASTSelfSupDataPreProcessor

__all__ = [
    'CASTSegDataPreProcessor', 'CASTClsDataPreProcessor',
    'CASTSelfSupDataPreProcessor'
]
