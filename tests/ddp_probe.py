# Copyright (c) mmcast contributors. All rights reserved.
"""A hook that lets a distributed test see every rank: after the first
training step each process saves its rank, the world size, the images of
its batch and its parameters (imported by the DDP test's config through
``custom_imports``)."""
import os.path as osp

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankProbeHook(Hook):
    """Save ``rank{r}.pt`` in ``out_dir`` after the first iteration.

    Args:
        out_dir (str): where the files go.
    """

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.initial = None

    @staticmethod
    def _params(runner):
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        return {k: v.detach().clone() for k, v in model.named_parameters()}

    def before_train(self, runner):
        self.initial = self._params(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter != 0:  # runner.iter counts from 0 until after hooks
            return
        rank, world_size = get_dist_info()
        torch.save(
            dict(rank=rank, world_size=world_size,
                 images=[s.img_path for s in data_batch['data_samples']],
                 initial=self.initial, params=self._params(runner)),
            osp.join(self.out_dir, f'rank{rank}.pt'))
