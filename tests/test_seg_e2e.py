# Copyright (c) mmcast contributors. All rights reserved.
"""tools/train.py and tools/test.py end to end on data in the real layouts.

The fast test trains the embedded toy config for two iterations; the slow
ones (``pytest -m slow``) run the ADE20K, Pascal-Context and UPerNet configs
(real CAST-S, schedule and images shrunk by --cfg-options), flip/scale TTA
and two-process DDP on the CPU.
"""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT

PY = sys.executable


def run(args, timeout=900, env=None):
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, env=full_env)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    return res.stdout + res.stderr


def scene(rng, h, w, num_classes, zero_is_ignore):
    """A random image of flat coloured rectangles and its label map."""
    lo = 1 if zero_is_ignore else 0
    lab = np.full((h, w), lo, np.uint8)
    for _ in range(4):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        lab[y:y + rng.integers(10, h // 2), x:x + rng.integers(10, w // 2)] = \
            rng.integers(lo, num_classes + lo)
    colours = rng.integers(0, 256, (256, 3)).astype(np.uint8)
    return colours[lab], lab


def make_ade20k(root, n_train=4, n_val=2):
    rng = np.random.default_rng(0)
    for split, n in (('training', n_train), ('validation', n_val)):
        os.makedirs(f'{root}/images/{split}', exist_ok=True)
        os.makedirs(f'{root}/annotations/{split}', exist_ok=True)
        for i in range(n):
            img, lab = scene(rng, 120, 160, 150, zero_is_ignore=True)
            name = f'ADE_{split}_{i:08d}'
            cv2.imwrite(f'{root}/images/{split}/{name}.jpg', img)
            cv2.imwrite(f'{root}/annotations/{split}/{name}.png', lab)
    return root


def make_pascal_context(root, n_train=4, n_val=2):
    rng = np.random.default_rng(1)
    os.makedirs(f'{root}/JPEGImages', exist_ok=True)
    os.makedirs(f'{root}/SegmentationClassContext', exist_ok=True)
    os.makedirs(f'{root}/ImageSets/SegmentationContext', exist_ok=True)
    for split, n in (('train', n_train), ('val', n_val)):
        names = [f'2008_{split}{i:04d}' for i in range(n)]
        for name in names:
            img, lab = scene(rng, 120, 160, 59, zero_is_ignore=True)
            cv2.imwrite(f'{root}/JPEGImages/{name}.jpg', img)
            cv2.imwrite(f'{root}/SegmentationClassContext/{name}.png', lab)
        with open(f'{root}/ImageSets/SegmentationContext/{split}.txt',
                  'w') as f:
            f.write('\n'.join(names) + '\n')
    return root


def shrink(crop=96, scale=(160, 96), stride=64):
    """--cfg-options that keep a config but make its images CPU-sized."""
    c, s = f'({crop},{crop})', f'({scale[0]},{scale[1]})'
    return [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.pipeline.2.scale={s}',
        f'train_dataloader.dataset.pipeline.3.crop_size={c}',
        f'test_dataloader.dataset.pipeline.1.scale={s}',
        f'model.data_preprocessor.size={c}',
        f'model.test_cfg.crop_size={c}',
        f'model.test_cfg.stride=({stride},{stride})',
    ]


def miou(text):
    found = re.findall(r'mIoU: ([0-9.]+)', text)
    assert found, text[-2000:]
    return float(found[-1])


def train_and_test(config, work_dir, options, tta=True):
    out = run([PY, 'tools/train.py', config, '--work-dir', work_dir,
               '--cfg-options'] + options)
    ckpts = glob.glob(osp.join(work_dir, 'iter_*.pth'))
    assert ckpts, out[-2000:]
    text = run([PY, 'tools/test.py', config, ckpts[0], '--work-dir',
                work_dir, '--cfg-options'] + options)
    assert 0 <= miou(text) <= 100
    if tta:
        text = run([PY, 'tools/test.py', config, ckpts[0], '--tta',
                    '--work-dir', work_dir, '--cfg-options'] + options)
        assert 0 <= miou(text) <= 100
    return ckpts[0]


def toy_options(root):
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
    ]


def test_toy_config_trains_and_tests_in_slide_mode(tmp_path):
    from mmcast.datasets import generate_toy_scenes
    root = generate_toy_scenes(str(tmp_path / 'toy'), 4, 2, 64)
    options = toy_options(root) + [
        "model.test_cfg.mode='slide'", 'model.test_cfg.crop_size=(48,48)',
        'model.test_cfg.stride=(32,32)'
    ]
    work_dir = str(tmp_path / 'wd')
    train_and_test('configs/cast_toy_scenes.py', work_dir, options,
                   tta=False)
    # --resume continues from the latest checkpoint of the work dir.
    out = run([PY, 'tools/train.py', 'configs/cast_toy_scenes.py',
               '--work-dir', work_dir, '--resume', '--cfg-options'] +
              options + ['train_cfg.max_iters=3',
                         'default_hooks.checkpoint.interval=1'])
    assert 'resumed epoch: 0, iter: 2' in out, out[-2000:]
    assert osp.exists(osp.join(work_dir, 'iter_3.pth'))


@pytest.mark.slow
def test_toy_config_flip_tta(tmp_path):
    from mmcast.datasets import generate_toy_scenes
    root = generate_toy_scenes(str(tmp_path / 'toy'), 4, 2, 64)
    train_and_test('configs/cast_toy_scenes.py', str(tmp_path / 'wd'),
                   toy_options(root), tta=True)


@pytest.mark.slow
@pytest.mark.parametrize('config', ['cast_s_ade20k', 'cast_s_upernet_ade20k'])
def test_ade20k_configs(config, tmp_path):
    root = make_ade20k(str(tmp_path / 'ADEChallengeData2016'))
    options = shrink() + [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
    ]
    train_and_test(f'configs/{config}.py', str(tmp_path / 'wd'), options)


@pytest.mark.slow
def test_pascal_context_config(tmp_path):
    root = make_pascal_context(str(tmp_path / 'VOC2010'))
    options = shrink(crop=96, scale=(104, 104), stride=64) + [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
    ]
    train_and_test('configs/cast_s_pascal_context.py', str(tmp_path / 'wd'),
                   options)


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    """torchrun --nproc_per_node=2 with the gloo backend (documented in
    docs/segmentation.md) trains and saves a checkpoint."""
    from mmcast.datasets import generate_toy_scenes
    root = generate_toy_scenes(str(tmp_path / 'toy'), 8, 2, 64)
    work_dir = str(tmp_path / 'wd')
    out = run(['bash', 'tools/dist_train.sh', 'configs/cast_toy_scenes.py',
               '2', '--work-dir', work_dir, '--cfg-options'] +
              toy_options(root) + ['train_cfg.max_iters=3',
                                   'default_hooks.checkpoint.interval=3'],
              env=dict(PYTHON=PY, PORT='29533', OMP_NUM_THREADS='1'))
    assert osp.exists(osp.join(work_dir, 'iter_3.pth')), out[-3000:]
    assert 'Distributed launcher: pytorch' in out or 'world_size: 2' in out \
        or 'distributed: True' in out, out[-3000:]
