# Copyright (c) mmcast contributors. All rights reserved.
"""The launch scripts pass every argument through intact, and the data
checks ask mmengine's file backends, not the local disk only."""
import json
import os
import stat
import subprocess

import pytest

from mmcast.apis.launch import check_config
from tests.conftest import ROOT

ECHO = '''#!{python}
import json, sys
print(json.dumps(sys.argv[1:]))
'''


def fake_program(folder, name):
    """An executable that prints its arguments as JSON."""
    import sys
    path = folder / name
    path.write_text(ECHO.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def run_script(args, env):
    res = subprocess.run(['bash'] + args, cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, **env))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('script', ['dist_train', 'dist_test'])
def test_dist_scripts_keep_arguments_whole(script, tmp_path):
    python = fake_program(tmp_path, 'python')
    config = 'my configs/cast toy.py'
    head = [config] if script == 'dist_train' else [config, 'a b.pth']
    args = head + ['2', '--cfg-options', "model.name='two words'",
                   'x=[1, 2]']
    argv = run_script([f'tools/{script}.sh'] + args,
                      dict(PYTHON=python, PORT='29999'))
    assert argv[:2] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=2' in argv and '--master_port=29999' in argv
    tool = argv.index(f'{ROOT}/tools/{script[5:]}.py')
    assert argv[tool + 1:] == head + [
        '--launcher', 'pytorch', '--cfg-options', "model.name='two words'",
        'x=[1, 2]']


def test_slurm_defaults_the_work_dir_and_keeps_arguments(tmp_path):
    fake_program(tmp_path, 'srun')
    env = dict(PATH=f'{tmp_path}:{os.environ["PATH"]}')
    # No WORK_DIR: tools/train.py's default, not the current directory.
    argv = run_script(['tools/slurm_train.sh', 'part', 'job',
                       'configs/cast_toy_scenes.py', '--cfg-options',
                       'a=b c'], env)
    assert '--work-dir=work_dirs/cast_toy_scenes' in argv
    assert argv[-2:] == ['--cfg-options', 'a=b c']
    # An explicit one, with a space, stays one argument.
    argv = run_script(['tools/slurm_train.sh', 'part', 'job',
                       'configs/cast_toy_scenes.py', 'my runs/toy'], env)
    assert '--work-dir=my runs/toy' in argv
    assert argv[argv.index('--job-name=job') - 1] == 'part'


def memory_backend():
    """A remote storage stand-in registered for ``memtest://``: it knows a
    fixed set of paths."""
    from mmengine.fileio import BaseStorageBackend, register_backend

    class MemoryBackend(BaseStorageBackend):
        paths = set()

        def __init__(self, **kwargs):
            pass

        def get(self, filepath):
            raise NotImplementedError

        def get_text(self, filepath, encoding='utf-8'):
            raise NotImplementedError

        def exists(self, path):
            return path.rstrip('/') in self.paths

    register_backend('mmcast_memtest', MemoryBackend, force=True,
                     prefixes='memtest')
    return MemoryBackend


def test_data_roots_are_checked_through_mmengine_backends():
    from mmengine.config import Config
    backend = memory_backend()
    backend.paths = {'memtest://bucket/toy',
                           'memtest://bucket/toy/images/validation'}
    cfg = Config.fromfile(os.path.join(ROOT, 'configs',
                                       'cast_toy_scenes.py'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = 'memtest://bucket/toy'
    cfg.train_dataloader.dataset.data_prefix.img_path = 'images/validation'
    check_config(cfg, 'train')  # exists remotely: accepted
    check_config(cfg, 'test')
    cfg.test_dataloader.dataset.data_root = 'memtest://bucket/none'
    with pytest.raises(FileNotFoundError, match='memtest://bucket/none'):
        check_config(cfg, 'test')


def test_finish_distributed_joins_the_groups_threads(tmp_path):
    """tools/train.py and tools/test.py end a distributed run with ``del
    runner; finish_distributed()``. The gloo group must be gone, its worker
    threads joined, before the interpreter finalizes: a worker thread that
    frees a collective holding Python tensors during finalization aborts
    the finished process (SIGABRT, the DDP test's rare failure). Here the
    DDP model sits in a reference cycle, as in a runner, and a
    broadcast_object_list leaves such tensors behind."""
    import torch
    import torch.distributed as dist

    from mmcast.apis.launch import finish_distributed

    def threads():
        return len(os.listdir('/proc/self/task'))

    finish_distributed()  # no group: nothing to do, no error
    before = threads()
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    try:
        model = torch.nn.parallel.DistributedDataParallel(
            torch.nn.Linear(3, 2))
        model(torch.ones(4, 3)).sum().backward()
        objects = [dict(metric=0.5)]
        dist.broadcast_object_list(objects)
        holder = dict(model=model)
        holder['self'] = holder  # a cycle, as runner <-> loops/hooks
        del model, holder
        assert threads() > before  # the group's worker threads
        finish_distributed()
        assert not dist.is_initialized()
        assert threads() == before
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
