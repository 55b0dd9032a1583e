# Copyright (c) mmcast contributors. All rights reserved.
"""The faster forward paths (issue 14) compute what the plain ones do:
farthest point sampling on a Gram matrix, segment means by one scatter, the
stem with batch norm folded in at inference, its 1x1 convolution on the
segment means, the last pooling skipped for a class-token output.  No
timings here: see tools/analysis_tools/benchmark_*.py."""
import numpy as np
import pytest
import torch
import torch.nn as nn

import mmcast.models.utils.fps as fps_module
from mmcast.models import CAST
from mmcast.models.utils import (farthest_point_sampling, resize_labels,
                                 segment_mean)
from mmcast.models.utils.stem import ConvStem, build_stem

TINY = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2)


def direct_fps(points, k, mask=None):
    """One image at a time, ``|p - q|^2`` directly: the sampler's
    definition (mean seed, first maximum, no repeats, padding never)."""
    picks, pads = [], []
    for b in range(points.shape[0]):
        p = points[b].double()
        valid = torch.ones(len(p), dtype=torch.bool) if mask is None \
            else ~mask[b]
        dist = (p - p[valid].mean(0)).pow(2).sum(-1)
        dist[~valid] = -2.
        out = []
        for _ in range(k):
            i = int(dist.argmax())
            out.append(i)
            dist = torch.where(dist >= 0, torch.minimum(
                dist, (p - p[i]).pow(2).sum(-1)), dist)
            dist[i] = -1.
        n = int(valid.sum())
        picks.append([i if s < n else 0 for s, i in enumerate(out)])
        pads.append([s >= n for s in range(k)])
    return torch.tensor(picks), torch.tensor(pads)


@pytest.fixture(params=['pairwise', 'row_by_row'])
def fps_path(request, monkeypatch):
    """Both ways of getting distances: the (B, N, N) matrix and, for large
    sets, one row per step."""
    if request.param == 'row_by_row':
        monkeypatch.setattr(fps_module, 'MAX_PAIRWISE_ENTRIES', 0)
    return request.param


def test_fps_hand_case(fps_path):
    # 1-D points 0, 1, 3, 7: mean 2.75, farthest 7 (index 3); then 0
    # (7.5625 from the mean); then 1 (1 from 0, against 3's 0.0625 from
    # the mean), then 3; slots past the 4 points are padding.
    pts = torch.tensor([[[0.], [1.], [3.], [7.]]])
    idx, pad = farthest_point_sampling(pts, 6)
    assert idx.tolist() == [[3, 0, 1, 2, 0, 0]]
    assert pad.tolist() == [[False] * 4 + [True] * 2]
    # Padded points are never picked and do not move the mean: 0, 1, 3
    # have mean 4/3, so 3 (index 2) comes first, then 0, then 1.
    mask = torch.tensor([[False, False, False, True]])
    idx, pad = farthest_point_sampling(pts, 3, mask)
    assert idx.tolist() == [[2, 0, 1]] and not pad.any()


def test_fps_equals_direct_definition(fps_path):
    gen = torch.Generator().manual_seed(0)
    for trial in range(40):
        B, N, C = (int(torch.randint(1, n, (1, ), generator=gen))
                   for n in (4, 60, 20))
        k = int(torch.randint(1, N + 4, (1, ), generator=gen))
        pts = torch.randn(B, N, C, generator=gen) * 4
        if trial % 2:
            pts = pts.round()  # integer points: many exact ties
        mask = torch.rand(B, N, generator=gen) < 0.3 if trial % 3 else None
        got = farthest_point_sampling(pts, k, mask)
        ref = direct_fps(pts, k, mask)
        assert torch.equal(got[0], ref[0]), trial
        assert torch.equal(got[1], ref[1]), trial


def test_fps_duplicates_never_picked_twice(fps_path):
    pts = torch.ones(2, 5, 3)  # every distance 0
    idx, pad = farthest_point_sampling(pts, 5)
    assert idx.tolist() == [[0, 1, 2, 3, 4]] * 2 and not pad.any()


def test_segment_mean_hand_case():
    # 2x3 image of values 1..6 (and their negatives), labels 0 0 1 / -1 1
    # 2: means (1+2)/2, (3+5)/2, 6; the pixel of no segment (4) is
    # ignored; segment 3 is empty.
    feats = torch.arange(1., 7.).view(1, 1, 2, 3)
    feats = torch.cat([feats, -feats], 1)
    labels = torch.tensor([[[0, 0, 1], [-1, 1, 2]]])
    means, counts = segment_mean(feats, labels, 4)
    assert means.tolist() == [[[1.5, -1.5], [4., -4.], [6., -6.],
                               [0., 0.]]]
    assert counts.tolist() == [[2., 2., 1., 0.]]
    # Any memory layout of the features, the same numbers.
    cl = segment_mean(feats.contiguous(memory_format=torch.channels_last),
                      labels, 4)[0]
    assert torch.equal(cl, means)


def randomised_stem(embed_dims=32):
    torch.manual_seed(0)
    stem = build_stem('conv', embed_dims)[0]
    for m in stem.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.)
            m.weight.data.normal_()
            m.bias.data.normal_()
    return stem


def plain(stem, x):
    """The stem as a plain Sequential: conv, BN, ReLU, ..., 1x1 conv."""
    for m in stem:
        x = m(x)
    return x


def test_folded_stem_equals_unfolded_in_eval():
    stem = randomised_stem().eval()
    assert isinstance(stem, ConvStem)
    x = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        ref = plain(stem, x)
        out = stem(x)
    assert stem._folded is not None  # the folded path ran
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # With gradients on (a frozen stem in training) nothing is folded and
    # gradients reach the weights.
    stem._folded = None
    stem(x).sum().backward()
    assert stem._folded is None and stem[0].conv.weight.grad is not None


def test_folded_stem_follows_weight_changes_and_train_mode():
    stem = randomised_stem().eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        stem(x)
        stem[1].bn.running_var.mul_(3.)  # in place, as an update would
        stem[2].conv.weight.add_(0.5)
        torch.testing.assert_close(stem(x), plain(stem, x), atol=1e-5,
                                   rtol=1e-5)
        stem.load_state_dict(randomised_stem().state_dict())
        torch.testing.assert_close(stem(x), plain(stem, x), atol=1e-5,
                                   rtol=1e-5)
    # Training mode: batch statistics, running statistics updated, as a
    # plain Sequential does; the cache is dropped.
    twin = randomised_stem()
    twin.load_state_dict(stem.state_dict())
    stem.train()
    twin.train()
    assert stem._folded is None
    with torch.no_grad():
        torch.testing.assert_close(stem(x), plain(twin, x), atol=1e-5,
                                   rtol=1e-5)
    torch.testing.assert_close(stem[0].bn.running_mean,
                               twin[0].bn.running_mean)


@pytest.mark.parametrize('pooling', ['stem', 'full'])
def test_projection_after_pooling_equals_projection_first(pooling):
    """The stem's 1x1 convolution applied to the segment means equals the
    means of the convolved cells (empty segments stay zero)."""
    model = CAST(arch=TINY, img_size=32, num_clusters=[4, 2, 2, 1],
                 pool_num_heads=2, token_pooling=pooling, out_type='raw')
    model.init_weights()
    model.eval()
    torch.manual_seed(1)
    for m in model.stem.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.data.normal_()  # a bias that would show on empty tokens
    img = torch.randn(2, 3, 32, 32)
    # Labels 0..15 on 8x8 blocks, and 16: a 1-pixel superpixel that no cell
    # of the stride-8 grid samples (an empty segment with 'stem').
    sp = torch.arange(16).view(4, 4).repeat_interleave(8, 0)
    sp = sp.repeat_interleave(8, 1).expand(2, -1, -1).clone()
    sp[:, 3, 3] = 16
    with torch.no_grad():
        emb = model.embed(img, sp)
        feats = plain(model.stem, img)
        pos = model._position_map()
        labels = model.superpixel_labels(sp)[0]
        if pooling == 'stem':
            grid = resize_labels(labels, feats.shape[-2:])
            ref, pix = segment_mean(feats, grid, 17)
            ref = ref + segment_mean(pos.expand(2, -1, -1, -1), grid, 17)[0]
            assert (pix[:, 16] == 0).all()
        else:
            up = nn.functional.interpolate(feats, size=(32, 32),
                                           mode='bilinear')
            up_pos = nn.functional.interpolate(pos, size=(32, 32),
                                               mode='bicubic')
            ref = segment_mean(up, labels, 17)[0] + segment_mean(
                up_pos.expand(2, -1, -1, -1), labels, 17)[0]
    torch.testing.assert_close(emb['tokens'], ref, atol=1e-5, rtol=1e-5)


def test_class_token_output_skips_only_the_last_pooling():
    model = CAST(arch=TINY, img_size=32, num_clusters=[8, 4, 2, 1],
                 pool_num_heads=2)
    model.init_weights()
    model.eval()
    calls = []
    for i, stage in enumerate(model.stages):
        stage.pool.register_forward_hook(lambda *a, i=i: calls.append(i))
    img = torch.randn(2, 3, 32, 32)
    sp = torch.arange(16).view(4, 4).repeat_interleave(8, 0)
    sp = sp.repeat_interleave(8, 1).expand(2, -1, -1)
    with torch.no_grad():
        (feat, ) = model(img, sp)
        assert calls == [0, 1, 2]
        model.out_type = 'raw'
        raw = model(img, sp)
    assert calls == [0, 1, 2, 0, 1, 2, 3]
    assert torch.equal(feat, raw['cls_feat'])


def test_contiguous_labels_equal_numpy_unique():
    from mmcast.datasets.transforms.superpixel import contiguous_labels
    rng = np.random.default_rng(0)
    cases = [rng.integers(0, 50, (7, 9)),  # small ids, gaps
             rng.integers(-3, 5, (4, 4)),  # negative ids: sorted path
             rng.integers(0, 2**40, (3, 5)),  # huge ids: sorted path
             np.array([[5, 5], [2, 9]])]  # hand case -> 1 1 / 0 2
    for labels in cases:
        _, ref = np.unique(labels, return_inverse=True)
        got = contiguous_labels(labels)
        assert got.dtype == np.int32
        assert np.array_equal(got, ref.reshape(labels.shape))
    assert contiguous_labels(cases[-1]).tolist() == [[1, 1], [0, 2]]


def test_reused_seeds_engine_equals_a_fresh_one():
    import cv2

    from mmcast.datasets.transforms import compute_superpixels
    from mmcast.datasets.transforms.superpixel import (SEEDS_PRESETS,
                                                       contiguous_labels,
                                                       get_ximgproc)
    rng = np.random.default_rng(1)
    imgs = [cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3), np.uint8),
                             (7, 7), 0) for _ in range(3)]
    cfg = SEEDS_PRESETS['segmentation']
    for img in imgs + imgs[::-1]:  # the engine is reused across calls
        got = compute_superpixels(img, 12)
        fresh = get_ximgproc().createSuperpixelSEEDS(
            64, 48, 3, 12, cfg['num_levels'], cfg['prior'],
            cfg['histogram_bins'], cfg['double_step'])
        fresh.iterate(cv2.cvtColor(img, cv2.COLOR_BGR2Lab),
                      cfg['num_iterations'])
        assert np.array_equal(got, contiguous_labels(fresh.getLabels()))
