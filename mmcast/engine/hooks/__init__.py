# Copyright (c) mmcast contributors. All rights reserved.
from .progress_bar_hook import PhaseBar, ProgressBarHook

__all__ = ['PhaseBar', 'ProgressBarHook']
