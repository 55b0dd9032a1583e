# Copyright (c) mmcast contributors. All rights reserved.
"""The Superpixels transform: counts, formats, and alignment with the final
augmented image through mmseg's geometric and photometric transforms."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope

import mmcast  # noqa: F401
from mmcast.datasets.transforms import Superpixels


def region_image(seed=0, size=(96, 128)):
    """Random axis-aligned rectangles of distinct flat colours + their ids."""
    rng = np.random.default_rng(seed)
    H, W = size
    ids = np.zeros((H, W), np.uint8)
    for k in range(1, 7):
        y0, x0 = rng.integers(0, H - 20), rng.integers(0, W - 20)
        ids[y0:y0 + rng.integers(15, 50), x0:x0 + rng.integers(15, 60)] = k
    colours = rng.integers(0, 256, (7, 3)).astype(np.uint8)
    colours[0] = (128, 128, 128)
    return colours[ids], ids


def purity(sp, ids):
    """Mean share of each superpixel's majority region."""
    shares = []
    for s in np.unique(sp):
        counts = np.bincount(ids[sp == s].ravel())
        shares.append(counts.max() / counts.sum())
    return float(np.mean(shares))


def test_count_follows_area_or_is_fixed():
    img, _ = region_image(size=(128, 128))
    out = Superpixels()(dict(img=img))
    n = out['num_superpixels']
    # SEEDS is asked for 128*128/16^2 = 64 and returns about that many.
    assert 40 <= n <= 64, n
    assert out['superpixels'].max() + 1 == n
    assert np.array_equal(np.unique(out['superpixels']), np.arange(n))
    few = Superpixels(num_superpixels=16)(dict(img=img))['num_superpixels']
    assert few < n
    many = Superpixels(stride=8)(dict(img=img))['num_superpixels']
    assert many > n


def test_deterministic_and_appended_as_channel():
    img, _ = region_image(1)
    a = Superpixels()(dict(img=img.copy()))
    b = Superpixels()(dict(img=img.copy()))
    assert np.array_equal(a['superpixels'], b['superpixels'])
    assert a['img'].shape == img.shape[:2] + (4, )
    assert a['img'].dtype == np.float32
    assert np.array_equal(a['img'][..., 3], a['superpixels'])
    assert np.array_equal(a['img'][..., :3], img)


@pytest.mark.parametrize('algorithm', ['seeds', 'slic'])
def test_borders_follow_image_edges(algorithm):
    img, ids = region_image(2)
    sp = Superpixels(algorithm=algorithm)(dict(img=img))['superpixels']
    assert purity(sp, ids) > 0.97


def test_grayscale_and_rgba():
    img, ids = region_image(3)
    gray = img.mean(-1).astype(np.uint8)
    out = Superpixels()(dict(img=gray))
    assert out['img'].shape == gray.shape + (4, )
    assert np.array_equal(out['img'][..., 0], gray)
    rgba = np.concatenate([img, np.full(ids.shape + (1, ), 7, np.uint8)], -1)
    out = Superpixels()(dict(img=rgba))
    assert np.array_equal(out['img'][..., :3], img)  # alpha dropped
    assert purity(out['superpixels'], ids) > 0.97
    with pytest.raises(ValueError, match='applied twice'):
        Superpixels()(out)


def _augment_pipeline():
    return [
        dict(type='RandomResize', scale=(160, 120), ratio_range=(0.6, 1.6),
             keep_ratio=True),
        dict(type='RandomCrop', crop_size=(80, 80)),
        dict(type='RandomFlip', prob=1.0),
        dict(type='PhotoMetricDistortion'),
        dict(type='Superpixels', num_superpixels=30),
        dict(type='PackSegInputs'),
    ]


def test_alignment_through_resize_crop_flip_and_colour():
    """Superpixels are computed on the final augmented image and packed
    with it: their borders fall on the (augmented) region borders, which a
    shift of a few pixels would break."""
    from mmseg.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipe = Compose([TRANSFORMS.build(t) for t in _augment_pipeline()])
    aligned, shifted = [], []
    for seed in range(4):
        img, ids = region_image(seed)
        np.random.seed(seed)
        res = pipe(dict(img=img.copy(), gt_seg_map=ids.copy(),
                        seg_fields=['gt_seg_map'], img_shape=ids.shape,
                        ori_shape=ids.shape, reduce_zero_label=False))
        packed = res['inputs'].numpy()  # (4, H, W): image + labels
        gt = res['data_samples'].gt_sem_seg.data.numpy()[0]
        assert packed.shape == (4, 80, 80) and gt.shape == (80, 80)
        sp = packed[3].astype(np.int64)
        aligned.append(purity(sp, gt))
        shifted.append(purity(np.roll(sp, 4, axis=1), gt))
    assert min(aligned) > 0.9, aligned
    assert np.mean(shifted) < np.mean(aligned) - 0.05, (aligned, shifted)
