# Copyright (c) mmcast contributors. All rights reserved.
from .progress_bar_hook import PhaseBar, ProgressBarHook
from .rng_state_hook import RNGStateHook

__all__ = ['PhaseBar', 'ProgressBarHook', 'RNGStateHook']
