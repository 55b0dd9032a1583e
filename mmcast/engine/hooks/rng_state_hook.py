# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional

import torch
from mmengine.hooks import Hook

from mmcast.registry import register_hook


@register_hook
class RNGStateHook(Hook):
    """Make a resumed run draw the same random numbers as an uninterrupted
    one (registered in mmseg and mmpretrain; ``tools/train.py`` adds it).

    mmengine 0.10 re-seeds a resumed run from the seed and replays the
    data loader up to the resumed iteration, so the data and its
    augmentations come out the same; but the model's own draws (dropout,
    drop path) were taken from torch's generator, which restarts from the
    seed.  This hook stores torch's CPU and CUDA generator states in every
    checkpoint (``checkpoint['rng_state']``, plain tensors: safe to load)
    and restores them just before the first training iteration after a
    resume.  NumPy's and Python's generators are left alone: the replayed
    data loading already brings them to the state they had.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get('rng_state')

    def before_train(self, runner) -> None:
        if runner.iter == 0:  # load_from (fine-tuning), not a resume
            self._pending = None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        torch.set_rng_state(self._pending['torch'].cpu())
        if 'cuda' in self._pending and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(
                [s.cpu() for s in self._pending['cuda']])
        self._pending = None
