# Copyright (c) mmcast contributors. All rights reserved.
"""Superpixels never crash the process: a fuzz over shapes (1x1 to
1200x1600, thin, tall), dtypes, counts and algorithms (SEEDS with both
presets, SLICO, SLIC) runs in a subprocess, so a segfault inside OpenCV
fails the test instead of killing pytest.

Run as a script (``python tests/test_superpixel_robustness.py``) it is the
fuzz itself: it prints every case before running it and a JSON summary at
the end.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHAPES = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 5), (5, 3), (7, 3), (8, 8),
          (10, 10), (1, 300), (300, 1), (4, 4000), (20, 3000), (3000, 20),
          (16, 16), (33, 47), (100, 5), (64, 64), (128, 128), (224, 224),
          (333, 500), (1200, 1600)]
COUNTS = [1, 10, 196, None]  # None: the transform's default (area / 16^2)


def counts(H, W):
    """The counts tried on a shape (two on the huge one, to keep the fuzz
    fast: its cost is the pixels, not the count)."""
    return COUNTS[2:] if H * W > 1e6 else COUNTS
#: (SEEDS preset, algorithm, SLIC variant)
SETTINGS = [('segmentation', 'seeds', None),
            ('classification', 'seeds', None),
            ('segmentation', 'slic', 'SLICO'),
            ('segmentation', 'slic', 'SLIC')]
KINDS = ['uint8', 'gray', 'gray1', 'rgba', 'grey_alpha', 'uint16',
         'float01', 'float255_nan', 'bool', 'int32', 'constant']


def make_image(kind, H, W, rng):
    """An image of the given kind (BGR-like channel layout)."""
    base = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
    if kind == 'uint8':
        return base
    if kind == 'gray':
        return base[..., 0]
    if kind == 'gray1':
        return base[..., :1]
    if kind == 'rgba':
        return np.dstack([base, np.full((H, W), 128, np.uint8)])
    if kind == 'grey_alpha':
        return np.dstack([base[..., 0], np.full((H, W), 9, np.uint8)])
    if kind == 'uint16':
        return base.astype(np.uint16) * 257
    if kind == 'float01':
        return base.astype(np.float32) / 255.
    if kind == 'float255_nan':
        img = base.astype(np.float64)
        img[0, 0] = np.nan
        img[-1, -1] = np.inf
        return img
    if kind == 'bool':
        return base[..., 0] > 127
    if kind == 'int32':
        return base.astype(np.int32) * 1000 - 7
    return np.full((H, W, 3), 77, np.uint8)  # constant


def valid_labels(labels, H, W):
    """Why ``labels`` are not valid superpixels of an (H, W) image, or
    None."""
    if labels.shape != (H, W) or labels.dtype != np.int32:
        return f'shape {labels.shape} dtype {labels.dtype}'
    ids = np.unique(labels)
    if ids[0] != 0 or ids[-1] != len(ids) - 1:
        return f'labels not contiguous: {ids[:5]}..{ids[-5:]}'
    return None


def fuzz():
    """Every case: valid superpixels, or a one-line ValueError for input
    that is no image.  Prints each case before running it."""
    from mmcast.datasets.transforms import Superpixels
    from mmcast.datasets.transforms.superpixel import (compute_superpixels,
                                                       seeds_top_grid)
    rng = np.random.default_rng(0)
    tried = survived = grids = 0
    problems = []
    for H, W in SHAPES:
        for count in counts(H, W):
            for preset, algorithm, slic in SETTINGS:
                kind = KINDS[tried % len(KINDS)]
                case = f'{H}x{W} {kind} n={count} {preset} {slic or ""}' \
                    f'{algorithm}'
                print('case', case, flush=True)
                img = make_image(kind, H, W, rng)
                transform = Superpixels(
                    algorithm=algorithm, num_superpixels=count,
                    preset=preset,
                    slic_cfg=dict(algorithm=slic) if slic else None)
                tried += 1
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter('always')
                    out = transform(dict(img=img))
                grids += any('regular grid' in str(w.message)
                             for w in caught)
                why = valid_labels(out['superpixels'], H, W)
                if why is None and out['img'].shape != (H, W, 4):
                    why = f"image shape {out['img'].shape}"
                if why:
                    problems.append(f'{case}: {why}')
                else:
                    survived += 1
    # Where mmcast lets SEEDS run, its grid is the one OpenCV builds
    # (creating SEEDS sizes the grid; only safe shapes are created).
    import cv2
    mismatches = []
    for (H, W), n in zip(SHAPES * 2, [1, 10, 196, 1024] * 11):
        grid = seeds_top_grid(H, W, n)
        if grid is None:
            continue
        seeds = cv2.ximgproc.createSuperpixelSEEDS(W, H, 3, n, 1, 2, 5)
        if seeds.getNumberOfSuperpixels() != grid[0] * grid[1]:
            mismatches.append([H, W, n, grid,
                               seeds.getNumberOfSuperpixels()])
    # Input that is no image: a clear ValueError, no crash.
    refused = 0
    bad = [np.zeros((0, 5, 3), np.uint8), np.zeros(7, np.uint8),
           np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), complex),
           np.array([['a']], object)]
    for img in bad:
        print('case bad input', img.shape, img.dtype, flush=True)
        tried += 1
        try:
            compute_superpixels(img, 10)
        except ValueError as e:
            if '\n' not in str(e):
                refused += 1
                survived += 1
                continue
        problems.append(f'bad input {img.shape} {img.dtype} not refused')
    return dict(tried=tried, survived=survived, grid_fallbacks=grids,
                refused=refused, problems=problems,
                grid_mismatches=mismatches)


def test_fuzz_in_a_subprocess():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, os.path.abspath(__file__)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    cases = [ln for ln in proc.stdout.splitlines() if ln.startswith('case')]
    assert proc.returncode == 0, (
        f'the fuzz died (exit {proc.returncode}) at: '
        f"{cases[-1] if cases else '?'}\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary['problems'] == [] and summary['grid_mismatches'] == []
    n = sum(len(counts(H, W)) for H, W in SHAPES) * len(SETTINGS)
    assert summary['tried'] == n + 5 == summary['survived']
    assert summary['refused'] == 5
    # The crashing shapes were there and took the fallback.
    assert summary['grid_fallbacks'] >= 20, summary


def test_seeds_top_grid_by_hand():
    from mmcast.datasets.transforms.superpixel import seeds_top_grid

    # The crash: n=10 on 20x3000 gives rows = int(sqrt(10 * 20 /
    # 3000)) = 0 superpixel rows.
    assert seeds_top_grid(20, 3000, 10) is None
    assert seeds_top_grid(3000, 20, 10) is None
    # 64x64, n=16: rows = cols = 4; two levels of 8 px blocks: 8x8 blocks
    # at level 0, 4x4 superpixels on top.
    assert seeds_top_grid(64, 64, 16) == (4, 4)
    # n is raised to 10: 10x10 gives rows = 3, cols = 3, blocks of
    # 10/3/2 = 1.67 -> 2 px, 5 blocks a side, 2 superpixels a side.
    assert seeds_top_grid(10, 10, 1) == (2, 2)
    # 1x1 (rows = cols = 3: blocks of 1/3 px): SEEDS would loop forever.
    # 8x3, n=1: rows = int(sqrt(10 * 8 / 3)) = 5, cols = 1; two levels
    # need blocks of 8 / 5 / 2 = 0.8 px, so only one fits: SEEDS segfaults.
    assert seeds_top_grid(1, 1, 1) is None
    assert seeds_top_grid(8, 3, 1) is None
    # The default count of the transform on 20x3000 (234) is fine.
    assert seeds_top_grid(20, 3000, 234) == (1, 150)


def test_grid_fallback_and_formats():
    from mmcast.datasets.transforms.superpixel import (grid_superpixels,
                                                       to_three_channels)
    grid = grid_superpixels(20, 3000, 10)
    # rows = round(sqrt(10 * 20 / 3000)) -> 1 (at least 1), cols = 10.
    assert np.array_equal(np.unique(grid), np.arange(10))
    assert np.array_equal(grid[0, ::300], np.arange(10))
    assert (grid == grid[:1]).all()
    assert grid_superpixels(1, 1, 196).tolist() == [[0]]
    # 16-bit: /257; float on the 0-255 scale, NaN -> 0, clipped; bool.
    img = to_three_channels(np.array([[0, 257 * 200, 65535]], np.uint16))
    assert img[0, :, 0].tolist() == [0, 200, 255]
    img = to_three_channels(np.array([[np.nan, 300., -5., 12.7]]))
    assert img[0, :, 1].tolist() == [0, 255, 0, 12]
    assert to_three_channels(np.array([[True, False]]))[0, :, 2].tolist() \
        == [255, 0]
    with pytest.raises(ValueError, match='empty image'):
        to_three_channels(np.zeros((0, 3), np.uint8))


def test_mslic_is_refused_when_the_transform_is_built():
    from mmcast.datasets.transforms import Superpixels
    with pytest.raises(ValueError, match='MSLIC crashes OpenCV'):
        Superpixels(algorithm='slic', slic_cfg=dict(algorithm='MSLIC'))


if __name__ == '__main__':
    print(json.dumps(fuzz()))
