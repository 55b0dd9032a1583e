# Copyright (c) mmcast contributors. All rights reserved.
"""MoCo v3 with CAST: every view carries the superpixels of its own crop."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope

import mmcast  # noqa: F401
from mmcast.datasets.transforms.superpixel import (SEEDS_PRESETS,
                                                   compute_superpixels)
from tests.pretrain_utils import CONFIGS, write_images


@pytest.fixture(scope='module')
def views(tmp_path_factory):
    """The two packed views of one image through the config's pipeline."""
    init_default_scope('mmpretrain')
    folder = tmp_path_factory.mktemp('img')
    write_images(str(folder), ['a.JPEG'], np.random.default_rng(0), size=160)
    cfg = Config.fromfile(osp.join(CONFIGS, 'cast_s_mocov3_in1k.py'))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    np.random.seed(0)
    torch.manual_seed(0)
    packed = pipeline(dict(img_path=str(folder / 'a.JPEG')))
    return packed


def boundaries(labels):
    lab = labels.numpy()
    edge = np.zeros(lab.shape, bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:] |= lab[1:] != lab[:-1]
    return edge


def gradient(img):
    gray = cv2.cvtColor(img.permute(1, 2, 0).numpy().astype(np.uint8),
                        cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(
        gray, cv2.CV_32F, 0, 1)
    return np.hypot(gx, gy)


def test_each_view_has_its_own_superpixels(views):
    v1, v2 = views['inputs']
    assert v1.shape == v2.shape == (4, 224, 224)
    assert not torch.equal(v1[:3], v2[:3]), 'the two views are one crop'
    # different maps ...
    assert (v1[3] != v2[3]).float().mean() > 0.5
    for own, other in ((v1, v2), (v2, v1)):
        # ... each exactly SEEDS of its own view (classification preset)
        img = own[:3].permute(1, 2, 0).numpy().astype(np.uint8)
        expected = compute_superpixels(img, 196, 'seeds',
                                       SEEDS_PRESETS['classification'])
        assert torch.equal(own[3].long(), torch.from_numpy(expected).long())
        assert 150 <= int(own[3].max()) + 1 <= 230
        # ... and its borders lie on that view's edges, not the other's
        edge = boundaries(own[3])
        g_own, g_other = gradient(own[:3]), gradient(other[:3])
        # (contrast of edges on vs off the borders; views differ in blur)
        own_ratio = g_own[edge].mean() / g_own[~edge].mean()
        other_ratio = g_other[edge].mean() / g_other[~edge].mean()
        assert own_ratio > 1.2
        assert own_ratio > 1.2 * other_ratio


def test_views_reach_the_model_with_their_maps(views):
    from mmcast.models.data_preprocessors import CASTSelfSupDataPreProcessor
    batch = default_collate([views, views])
    pre = CASTSelfSupDataPreProcessor(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        to_rgb=True)
    out = pre(batch)
    for got, view in zip(out['inputs'], views['inputs']):
        assert got.shape == (2, 4, 224, 224)
        assert torch.equal(got[0, 3], view[3])
