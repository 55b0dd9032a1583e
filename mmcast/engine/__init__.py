# Copyright (c) mmcast contributors. All rights reserved.
from .hooks import PhaseBar, ProgressBarHook

__all__ = ['PhaseBar', 'ProgressBarHook']
