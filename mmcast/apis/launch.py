# Copyright (c) mmcast contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` share: config loading with
mmseg's/mmpretrain's flags, and distributed set-up that also works on CPUs.
"""
import os
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.runner import Runner


def load_config(config: str, cfg_options=None, work_dir=None,
                launcher='none') -> Config:
    """Read a config and apply the command line's overrides.

    The work directory follows mmseg's rule: ``--work-dir``, else the
    config's ``work_dir``, else ``./work_dirs/<config name>``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'no config file at {config}')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Make a ``--launcher pytorch`` run work on machines without GPUs.

    mmengine 0.10's pytorch launcher calls ``torch.cuda.set_device`` and its
    default DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on a
    CPU.  When no GPU is present, initialise a gloo process group here
    (before the Runner, which then skips its own ``init_dist``) and wrap the
    model with ``device_ids=None``.  With a GPU nothing is changed.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        if 'RANK' not in os.environ:
            raise RuntimeError(
                f'--launcher {cfg.launcher} needs the environment of a '
                'distributed launcher (RANK, WORLD_SIZE, MASTER_ADDR...): '
                'start it with torchrun or tools/dist_train.sh')
        torch_dist.init_process_group(backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', device_ids=None)


def enable_amp(cfg: Config) -> None:
    """``--amp``: mixed precision through mmengine's AmpOptimWrapper."""
    if not torch.cuda.is_available():
        raise RuntimeError('--amp needs a CUDA GPU: mmengine\'s '
                           'AmpOptimWrapper is CUDA-only; drop --amp on CPU')
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper != 'AmpOptimWrapper':
        if wrapper != 'OptimWrapper':
            raise ValueError(f'--amp works with OptimWrapper, the config '
                             f'uses {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def build_runner(cfg: Config) -> Runner:
    """Build the runner for an mmseg or mmpretrain config (the registries
    are chosen by the config's ``default_scope``)."""
    import mmcast  # noqa: F401  (registers mmcast components)
    setup_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
