# Copyright (c) mmcast contributors. All rights reserved.
from .cast_inferencer import CASTInferencer
from .hierarchy_result import HierarchyResult
from .inference import (inference_hierarchy, inference_model, init_model,
                        load_image)
from .launch import build_runner, enable_amp, load_config

__all__ = [
    'build_runner', 'CASTInferencer', 'enable_amp', 'load_config',
    'HierarchyResult', 'inference_hierarchy', 'inference_model',
    'init_model', 'load_image'
]
