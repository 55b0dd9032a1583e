# Copyright (c) mmcast contributors. All rights reserved.
from .export import (StaticSuperpixelCAST, export_backbone, export_onnx,
                     export_inputs, max_abs_difference)

__all__ = [
    'StaticSuperpixelCAST', 'export_backbone', 'export_onnx',
    'export_inputs', 'max_abs_difference'
]
