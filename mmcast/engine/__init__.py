# Copyright (c) mmcast contributors. All rights reserved.
from .checkpoint import (CheckpointError, check_checkpoint, check_state_dict,
                         load_checkpoint_file, load_model_checkpoint,
                         register_safe_loaders, state_dict_of)
from .hooks import PhaseBar, ProgressBarHook, RNGStateHook
from .optimizers import CPUAmpOptimWrapper

__all__ = [
    'CheckpointError', 'check_checkpoint', 'check_state_dict',
    'CPUAmpOptimWrapper', 'load_checkpoint_file', 'load_model_checkpoint',
    'PhaseBar', 'ProgressBarHook', 'register_safe_loaders', 'RNGStateHook',
    'state_dict_of'
]
