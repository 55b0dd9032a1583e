# Copyright (c) mmcast contributors. All rights reserved.
"""The speed tools of issue 14 run end to end at toy size and print the
lines docs/benchmarks.md quotes (no timing is checked: figures come from
the tools, never from tests)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import ROOT

RELEASE_SRC = os.environ.get('MMCAST_RELEASE_SRC') or osp.join(
    ROOT, '..', 'shared', 'reference', 'cast_release')
TIMM = os.environ.get('MMCAST_TIMM0412', '/tmp/timm0412')


def run(args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    res = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.splitlines()


@pytest.mark.slow
@pytest.mark.skipif(
    not (osp.isfile(osp.join(RELEASE_SRC, 'cast_deit.py'))
         and osp.isdir(osp.join(TIMM, 'timm'))),
    reason='needs the release files and timm 0.4.12 (pip --target)')
def test_backbone_benchmark_with_the_release():
    lines = run(['tools/analysis_tools/benchmark_backbone.py', '--batch',
                 '1', '--reps', '1', '--threads', '1', '--release-src',
                 RELEASE_SRC, '--timm-path', TIMM])
    assert lines[0].startswith('conditions: torch ')
    assert '1 torch threads' in lines[0] and 'load average' in lines[0]
    assert lines[-2].startswith('cast_s/vit_s time ratio: ')
    assert lines[-1].startswith('cast_s/release time ratio: ')
    # Same weights through the converter: the class features agree on
    # images without padded tokens.
    same = next(l for l in lines if l.startswith('release vs mmcast'))
    assert 'max abs difference' in same


@pytest.mark.slow
def test_lever_benchmark_runs():
    # The current tree as its own baseline: every variant is the same
    # function, so the outputs agree to float rounding.
    lines = run(['tools/analysis_tools/benchmark_levers.py', '--baseline-src',
                 ROOT, '--batch', '1', '--size', '64', '--reps', '1',
                 '--threads', '1'])
    assert lines[-1].startswith('after/before time ratio: ')
    err = float(lines[-2].rsplit(' ', 1)[1])
    assert err < 1e-4
    assert sum(l.startswith('lever ') for l in lines) == 5


def test_superpixel_benchmark_runs():
    lines = run(['tools/analysis_tools/benchmark_superpixels.py', '--size',
                 '128', '--images', '1', '--reps', '1'])
    assert 'superpixels 64/image' in lines[0]
    assert lines[-1].startswith('SEEDS 128: median ')
    assert lines[-1].endswith('ms CPU per image')


def test_benchmark_photos_cycle_their_sources_in_either_channel_order():
    """The benchmarks' shared photos: scikit-image photos resized, cycled
    in the given order, BGR (as mmcv loads) unless RGB is asked for."""
    import cv2
    import numpy as np
    from skimage import data

    from mmcast.utils.timing import photos
    bgr = photos(3, (24, 40), sources=('astronaut', 'coffee'))
    rgb = photos(3, (24, 40), sources=('astronaut', 'coffee'),
                 channel_order='rgb')
    assert [img.shape for img in bgr] == [(24, 40, 3)] * 3
    expected = cv2.resize(data.coffee(), (40, 24),
                          interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(rgb[1], expected)
    np.testing.assert_array_equal(bgr[1], expected[..., ::-1])
    np.testing.assert_array_equal(bgr[2], bgr[0])  # the cycle restarts
    assert not np.array_equal(bgr[0], bgr[1])
