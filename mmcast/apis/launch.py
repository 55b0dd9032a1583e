# Copyright (c) mmcast contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` share: config loading with
mmseg's/mmpretrain's flags, and distributed set-up that also works on CPUs.
"""
import gc
import os
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine import fileio
from mmengine.config import Config
from mmengine.runner import Runner


def add_launch_args(parser) -> None:
    """The flags tools/train.py and tools/test.py share with mmseg's:
    ``--cfg-options``, ``--launcher`` and ``--local_rank``."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (e.g. '
        'train_cfg.max_iters=10 train_dataloader.batch_size=2)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser):
    """Parse, exporting ``LOCAL_RANK`` for launchers that pass
    ``--local_rank`` instead of setting it."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


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
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))


def finish_distributed() -> None:
    """End a distributed run cleanly: wait for every rank, then destroy the
    process group while the interpreter is still whole.

    Call it after the last reference to the runner is gone (``del
    runner``): the DDP wrapper holds the process group, so while it lives
    the group and its gloo worker threads outlive ``destroy_process_group``.
    A worker thread that drops the last reference to a finished collective
    (one holding Python tensors, such as ``broadcast_object_list``'s) during
    interpreter finalization takes the GIL there and aborts the process
    (``terminate called without an active exception``, SIGABRT) after its
    work is done. Destroyed here, the group joins its threads first.
    Does nothing outside a distributed run.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    gc.collect()  # the runner's reference cycles hold the DDP wrapper
    torch_dist.barrier()
    torch_dist.destroy_process_group()


def enable_amp(cfg: Config) -> None:
    """``--amp``: mixed precision training.

    With a GPU, mmengine's ``AmpOptimWrapper`` (float16 autocast, dynamic
    loss scaling); without one, mmcast's ``CPUAmpOptimWrapper`` (bfloat16
    autocast on the CPU; mmengine's wrapper is GPU-only).
    """
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    wanted = 'AmpOptimWrapper' if torch.cuda.is_available() else \
        'CPUAmpOptimWrapper'
    if wrapper == wanted:
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp works with OptimWrapper, the config uses '
                         f'{wrapper}')
    cfg.optim_wrapper.type = wanted
    if wanted == 'AmpOptimWrapper':
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def _datasets(cfg: Config):
    """(name, dataset cfg) of every dataloader, wrappers unfolded."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader:
            continue
        stack = [loader.get('dataset')]
        while stack:
            ds = stack.pop()
            if ds is None:
                continue
            if 'datasets' in ds:
                stack.extend(ds['datasets'])
            elif 'dataset' in ds:
                stack.append(ds['dataset'])
            else:
                yield name, ds


def _contains_type(node, name: str) -> bool:
    """Whether a config node holds ``type=name`` anywhere (a scope prefix
    such as ``mmseg.`` is allowed)."""
    if isinstance(node, dict):
        return str(node.get('type', '')).split('.')[-1] == name or any(
            _contains_type(v, name) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_contains_type(v, name) for v in node)
    return False


def _uses_cast(model_cfg) -> bool:
    """Whether a model config contains a CAST backbone anywhere."""
    return _contains_type(model_cfg, 'CAST')


def _has_superpixels(pipeline) -> bool:
    """Whether a pipeline (TTA and multi-view ones included) computes
    superpixels."""
    return _contains_type(pipeline, 'Superpixels')


def path_exists(path: str, backend_args: dict = None):
    """Whether a file or folder exists, asked through mmengine's file
    backends, so that remote storage (``s3://``, petrel...) is checked
    where the data will be read.  ``None`` when the backend cannot tell
    (e.g. plain HTTP, or a client library that is not installed)."""
    try:
        return fileio.exists(path, backend_args=backend_args)
    except (NotImplementedError, AttributeError, ImportError):
        return None


def _refuses_missing_superpixels(cfg: Config) -> bool:
    """Whether the model's superpixel policy for images without superpixels
    is ``'error'``: the CAST data preprocessor's when the model has one,
    else the CAST backbone's (both default to ``'seeds'``)."""

    def policy(node):
        value = (node or {}).get('missing_superpixels', 'seeds')
        return value.get('policy', 'seeds') if isinstance(value, dict) \
            else value

    model = cfg.get('model') or {}
    pre = model.get('data_preprocessor') or cfg.get('data_preprocessor')
    if pre and str(pre.get('type', '')).startswith('CAST'):
        return policy(pre) == 'error'
    stack = [model]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if str(node.get('type', '')).split('.')[-1] == 'CAST':
                return policy(node) == 'error'
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


def check_config(cfg: Config, mode: str = 'train') -> None:
    """Fail early, in one line, on what would otherwise crash deep inside.

    * a dataset root or image folder that does not exist (which path, and
      where the preparation is described), checked through mmengine's file
      backends (local disks and the remote storage they read);
    * a CAST model whose data pipeline lacks the ``Superpixels`` transform
      while its ``missing_superpixels`` policy is ``'error'`` (with the
      default policy the model computes them itself).

    Args:
        cfg (Config): the full config.
        mode (str): ``'train'`` checks the train and val loaders, ``'test'``
            the test loader.
    """
    wanted = ('train_dataloader', 'val_dataloader') if mode == 'train' \
        else ('test_dataloader', )
    cast = _uses_cast(cfg.get('model')) and _refuses_missing_superpixels(cfg)
    for name, ds in _datasets(cfg):
        if name not in wanted or (name == 'val_dataloader'
                                  and cfg.get('val_cfg') is None):
            continue
        root = ds.get('data_root') or ''
        prefix = ds.get('data_prefix') or {}
        img_dir = prefix.get('img_path', prefix.get('img', '')) \
            if isinstance(prefix, dict) else prefix
        for path in (root, osp.join(root, img_dir) if img_dir else ''):
            if path and path_exists(path, ds.get('backend_args')) is False:
                raise FileNotFoundError(
                    f'{name}: dataset folder {path} does not exist; prepare '
                    f"the {ds.get('type', 'dataset')} data there (see "
                    'docs/datasets.md) or set --cfg-options '
                    f'{name}.dataset.data_root=...')
        if cast and not _has_superpixels(ds.get('pipeline', [])):
            raise ValueError(
                f"{name}: the model uses a CAST backbone but the dataset's "
                "pipeline has no dict(type='Superpixels') and its "
                "missing_superpixels policy is 'error'; add the transform "
                'after the last augmentation, before the packing transform')


def build_runner(cfg: Config, mode: str = 'train') -> Runner:
    """Build the runner for an mmseg or mmpretrain config (the registries
    are chosen by the config's ``default_scope``), after
    :func:`check_config`.  It adds :class:`~mmcast.engine.ProgressBarHook`
    (a bar over evaluations on a terminal) and, to train,
    :class:`~mmcast.engine.RNGStateHook` (exact resume).  In ``'test'``
    mode the checkpoint to test (``load_from``) is checked against the
    model, so one of another architecture fails in one line instead of
    testing random weights."""
    import mmcast  # noqa: F401  (registers mmcast components)
    check_config(cfg, mode)
    setup_cpu_distributed(cfg)
    # exact resume, and a progress bar over evaluations (mmcast.engine)
    for hook in ('RNGStateHook', 'ProgressBarHook'):
        if (mode == 'train' or hook == 'ProgressBarHook') and \
                not _contains_type(cfg.get('custom_hooks'), hook):
            cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
                dict(type=hook)
            ]
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if mode == 'test' and cfg.get('load_from'):
        from mmcast.engine import check_checkpoint
        check_checkpoint(runner.model, cfg.load_from)
    return runner
