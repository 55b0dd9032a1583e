# Copyright (c) mmcast contributors. All rights reserved.
"""Superpixels when none are given: the ``missing_superpixels`` policy of
the CAST data preprocessors and the CAST backbone."""
import warnings

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

import mmcast  # noqa: F401
from mmcast.datasets.transforms import Superpixels, compute_superpixels
from mmcast.datasets.transforms.superpixel import SEEDS_PRESETS
from mmcast.models import CAST
from mmcast.models.data_preprocessors import (CASTClsDataPreProcessor,
                                              CASTSegDataPreProcessor,
                                              CASTSelfSupDataPreProcessor)
from mmcast.models.utils import (SuperpixelPolicy, grid_superpixels,
                                 image_to_uint8)
from mmcast.models.utils.superpixel_policy import MissingSuperpixelsWarning
from tests.test_superpixel_transform import purity, region_image

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
TINY = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2)


def chw(img):
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


def normalise(rgb_uint8, mean=MEAN, std=STD):
    x = chw(rgb_uint8).float()
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(
        3, 1, 1)


def warnings_of(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = fn(*args)
    return out, [w for w in caught
                 if issubclass(w.category, MissingSuperpixelsWarning)]


def test_grid_labels_by_hand():
    # 5 x 7 image, 3 x 3 patches: 2 rows x 3 columns of patches, the last
    # ones cut by the border.
    expected = torch.tensor([[0, 0, 0, 1, 1, 1, 2]] * 3 +
                            [[3, 3, 3, 4, 4, 4, 5]] * 2)
    assert torch.equal(grid_superpixels(5, 7, 3), expected)
    policy = SuperpixelPolicy('grid', stride=3)
    (labels, ), caught = warnings_of(policy.compute,
                                     [torch.rand(3, 5, 7)])
    assert torch.equal(labels, expected) and not caught


def test_uint8_recovery_by_hand():
    img = np.array([[[0, 10, 255], [128, 64, 3]]], np.uint8)  # (1, 2, 3)
    # uint8 is taken as it is ...
    assert np.array_equal(image_to_uint8(chw(img)), img)
    # ... the preprocessor's normalisation is undone exactly ...
    x = normalise(img)
    out = image_to_uint8(x, torch.tensor(MEAN), torch.tensor(STD))
    assert np.array_equal(out, img)
    # ... and without it the image's range is stretched to 0..255:
    # values -1, 0, 1 -> 0, 127.5 (rounds to even: 128), 255.
    x = torch.tensor([-1., 0., 1.]).view(3, 1, 1)
    assert image_to_uint8(x).ravel().tolist() == [0, 128, 255]
    # A constant or non-finite image gives zeros, not NaNs.
    assert not image_to_uint8(torch.full((3, 2, 2), 7.)).any()
    x = torch.tensor([float('nan'), 2., float('inf')]).view(3, 1, 1)
    assert image_to_uint8(x).ravel().tolist() == [0, 255, 0]


def test_seeds_policy_matches_the_transform_and_warns_once():
    img, ids = region_image(2)  # BGR-agnostic colours, (96, 128)
    ref = Superpixels()(dict(img=img.copy()))['superpixels']
    policy = SuperpixelPolicy(channel_order='bgr', where='test')
    (labels, ), caught = warnings_of(policy.compute, [chw(img)])
    assert np.array_equal(labels.numpy(), ref)
    assert len(caught) == 1 and 'test' in str(caught[0].message)
    assert "dict(type='Superpixels')" in str(caught[0].message)
    _, caught = warnings_of(policy.compute, [chw(img)])
    assert not caught  # one warning per policy, not per batch
    assert purity(labels.numpy(), ids) > 0.9


def test_batch_equals_images_alone_and_slic():
    imgs = [chw(region_image(s)[0]) for s in range(3)]
    for name in ('seeds', 'slic'):
        policy = SuperpixelPolicy(name)
        together = policy.compute(imgs)  # threads
        for img, lab in zip(imgs, together):
            assert torch.equal(policy.compute([img])[0], lab)
    ref = compute_superpixels(region_image(0)[0], 48, 'slic',
                              channel_order='rgb')
    assert np.array_equal(together[0].numpy(), ref)


def test_error_policy_and_bad_values():
    with pytest.raises(ValueError, match="type='Superpixels'"):
        SuperpixelPolicy('error').compute([torch.rand(3, 8, 8)])
    with pytest.raises(ValueError, match='missing_superpixels must be'):
        SuperpixelPolicy('felzenszwalb')
    with pytest.raises(ValueError, match='both mean and std'):
        SuperpixelPolicy(mean=MEAN)
    with pytest.raises(ValueError, match=r'shape \[\(1, 8, 8\)\]'):
        SuperpixelPolicy().split([torch.rand(1, 8, 8)])


def test_backbone_recovers_the_image_with_mean_std():
    rgb, _ = region_image(3, size=(64, 64))
    ref = compute_superpixels(rgb, 16, seeds_cfg=SEEDS_PRESETS[
        'classification'], channel_order='rgb')
    x = normalise(rgb)[None]
    exact = CAST(arch=TINY, img_size=64, num_clusters=[8, 4, 2, 1],
                 pool_num_heads=2, out_type='raw',
                 missing_superpixels=dict(mean=MEAN, std=STD)).eval()
    with torch.no_grad():
        out, caught = warnings_of(exact, x)
    assert len(caught) == 1 and 'backbone' in str(caught[0].message)
    assert np.array_equal(out['superpixels'][0].numpy(), ref)
    # Given the superpixels, the same numbers come out.
    with torch.no_grad():
        given = exact(x, torch.from_numpy(ref)[None])
    torch.testing.assert_close(given['cls_feat'], out['cls_feat'])


def test_backbone_range_stretch_is_exact_for_a_uniform_normalisation():
    # With the same mean/std for every channel and an image that spans
    # 0..255, stretching the range undoes the normalisation exactly.
    rgb, _ = region_image(4, size=(64, 64))
    rgb[0, 0], rgb[0, 1] = 0, 255
    ref = compute_superpixels(rgb, 16, channel_order='rgb')
    model = CAST(arch=TINY, img_size=64, num_clusters=[8, 4, 2, 1],
                 pool_num_heads=2, out_type='raw', token_pooling='full')
    with torch.no_grad():
        out = model.eval()(normalise(rgb, [128.] * 3, [64.] * 3)[None])
    assert np.array_equal(out['superpixels'][0].numpy(), ref)


def test_backbone_grid_policy():
    model = CAST(arch=TINY, img_size=64, num_clusters=[8, 4, 2, 1],
                 pool_num_heads=2, out_type='raw',
                 missing_superpixels=dict(policy='grid', stride=8)).eval()
    with torch.no_grad():
        out, caught = warnings_of(model, torch.randn(2, 3, 64, 40))
    assert not caught
    assert out['num_superpixels'].tolist() == [40, 40]  # 8 x 5 patches
    assert torch.equal(out['superpixels'][1], grid_superpixels(64, 40, 8))


def test_seg_preprocessor_computes_on_the_raw_image():
    a, _ = region_image(5, size=(48, 64))
    b, _ = region_image(6, size=(40, 56))
    pre = CASTSegDataPreProcessor(mean=MEAN, std=STD, bgr_to_rgb=True,
                                  size=(48, 64))
    ref_a = Superpixels()(dict(img=a.copy()))['superpixels']
    packed_b = Superpixels()(dict(img=b.copy()))
    samples = [SegDataSample(), SegDataSample()]
    for s, (h, w) in zip(samples, ((48, 64), (40, 56))):
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w)))
    # One sample without superpixels, one with the transform's channel.
    out, caught = warnings_of(pre, dict(
        inputs=[chw(a), chw(packed_b['img'])], data_samples=samples), True)
    x = out['inputs']
    assert x.shape == (2, 4, 48, 64) and len(caught) == 1
    assert 'data preprocessor' in str(caught[0].message)
    assert np.array_equal(x[0, 3].numpy(), ref_a)
    assert np.array_equal(x[1, 3, :40, :56].numpy(), packed_b['superpixels'])
    assert (x[1, 3, 40:] == -1).all()
    torch.testing.assert_close(x[0, :3], normalise(a[..., ::-1]))


def test_cls_and_selfsup_preprocessors_compute_superpixels():
    imgs = [region_image(s, size=(32, 32))[0] for s in range(4)]
    ref = torch.stack([
        torch.from_numpy(Superpixels(preset='classification')(
            dict(img=i.copy()))['superpixels']) for i in imgs
    ]).float()
    raw = torch.stack([chw(i) for i in imgs])  # uint8 (4, 3, 32, 32)
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    pre = CASTClsDataPreProcessor(mean=MEAN, std=STD, to_rgb=True,
                                  num_classes=4)
    out = pre(dict(inputs=raw, data_samples=samples))['inputs']
    assert out.shape == (4, 4, 32, 32)
    assert torch.equal(out[:, 3], ref)
    selfsup = CASTSelfSupDataPreProcessor(mean=MEAN, std=STD, to_rgb=True)
    views = selfsup(dict(inputs=[raw, raw.flip(-1)],
                         data_samples=samples))['inputs']
    assert torch.equal(views[0][:, 3], ref)
    flipped = torch.stack([
        torch.from_numpy(Superpixels(preset='classification')(
            dict(img=i[:, ::-1].copy()))['superpixels']) for i in imgs
    ]).float()
    assert torch.equal(views[1][:, 3], flipped)
    grid = CASTClsDataPreProcessor(mean=MEAN, std=STD, num_classes=4,
                                   missing_superpixels='grid')
    out = grid(dict(inputs=raw, data_samples=samples))['inputs']
    assert torch.equal(out[:, 3], grid_superpixels(32, 32, 16).float()
                       .expand(4, -1, -1))
