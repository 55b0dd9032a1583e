# Copyright (c) mmcast contributors. All rights reserved.
"""tools/demo/hierarchy_demo.py end to end."""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from tests.conftest import ROOT, load_tool
from tests.hierarchy_helpers import (CLS_CFG, SEG_CFG, nesting_violations,
                                     save_tiny_checkpoint)

DEMO = osp.join(ROOT, 'tools', 'demo', 'hierarchy_demo.py')


def run_demo(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, DEMO, *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def read_levels(out_dir, num_levels, shape):
    levels = []
    for i in range(num_levels):
        lv = cv2.imread(osp.join(out_dir, f'level_{i}.png'),
                        cv2.IMREAD_UNCHANGED)
        assert lv is not None and lv.dtype == np.uint16, i
        assert lv.shape == shape, (i, lv.shape)
        levels.append(lv)
    assert not osp.exists(osp.join(out_dir, f'level_{num_levels}.png'))
    assert nesting_violations(levels) == []
    panel = cv2.imread(osp.join(out_dir, 'hierarchy.png'))
    assert panel is not None and panel.shape[1] > panel.shape[0]
    return levels, panel


@pytest.fixture(scope='module')
def coffee_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('img') / 'coffee.png'
    cv2.imwrite(str(path), skimage.data.coffee()[..., ::-1])
    return path


def test_demo_without_checkpoint_on_coffee(coffee_file, tmp_path):
    out = run_demo(coffee_file, SEG_CFG, '--out-dir', tmp_path)
    assert 'RANDOM' in out
    levels, _ = read_levels(tmp_path, 5, (400, 600))
    counts = [len(np.unique(lv)) for lv in levels]
    # Level 0 = the superpixels: as many as the demo reports.
    assert f'level 0: {counts[0]} superpixels' in out
    assert counts == sorted(counts, reverse=True) and counts[-1] <= 4
    assert 'class scores (top' not in out  # a segmentor


def test_demo_with_checkpoint_on_coffee(coffee_file, tmp_path):
    ckpt = tmp_path / 'tiny_cls.pth'
    save_tiny_checkpoint(str(ckpt), CLS_CFG,
                         classes=['ant', 'bee', 'cat', 'dog', 'eel'],
                         favour=3)
    out_dir = tmp_path / 'out'
    out = run_demo(coffee_file, CLS_CFG, '--checkpoint', ckpt,
                   '--clusters', 8, 4, 3, 2, '--levels', 0, -1,
                   '--out-dir', out_dir)
    assert 'RANDOM' not in out
    levels, panel = read_levels(out_dir, 5, (400, 600))
    assert [len(np.unique(lv)) for lv in levels[1:]] == [8, 4, 3, 2]
    # The loaded head favours class 3: it must come first, by name.
    first = re.search(r'1\. (\w+) \((\d+)\): ([0-9.]+)', out)
    assert first and first.groups()[:2] == ('dog', '3'), out
    assert float(first.group(3)) > 0.9
    assert len(re.findall(r'^\s+\d\. ', out, re.M)) == 5
    # --levels 0 -1: the image and two tiles (three tiles with gaps).
    assert panel.shape[1] > 2.5 * panel.shape[0]


def test_demo_on_a_grayscale_file(tmp_path):
    path = tmp_path / 'camera.png'
    cv2.imwrite(str(path), skimage.data.camera()[::3, ::2])  # (171, 256)
    out = run_demo(path, CLS_CFG, '--out-dir', tmp_path / 'out')
    assert 'RANDOM' in out and 'class scores (top-5)' in out
    read_levels(tmp_path / 'out', 5, (171, 256))


@pytest.fixture(scope='module')
def demo():
    return load_tool('tools/demo/hierarchy_demo.py')


@pytest.mark.parametrize('kind', ['rgba', 'tiny', 'large'])
def test_demo_on_rgba_tiny_and_large_files(kind, demo, tmp_path):
    if kind == 'rgba':
        rgb = skimage.data.astronaut()[::4, ::4]
        img = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 90,
                                                 np.uint8)])
    elif kind == 'tiny':
        img = skimage.data.chelsea()[100:120, 200:220, ::-1]
    else:
        img = cv2.resize(skimage.data.coffee()[..., ::-1], (1800, 1200))
    path = tmp_path / f'{kind}.png'
    cv2.imwrite(str(path), img)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == img.shape
    result = demo.main([str(path), SEG_CFG, '--out-dir',
                        str(tmp_path / 'out')])
    levels, _ = read_levels(tmp_path / 'out', 5, img.shape[:2])
    for ours, written in zip(result.levels, levels):
        np.testing.assert_array_equal(ours, written)
