# Copyright (c) mmcast contributors. All rights reserved.
from .launch import build_runner, enable_amp, load_config

__all__ = ['build_runner', 'enable_amp', 'load_config']
