# Copyright (c) mmcast contributors. All rights reserved.
"""CAST's mmpretrain data preprocessors: the superpixel channel survives the
stock processing and batch mixing touches the images only."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmcast.models.data_preprocessors import (CASTClsDataPreProcessor,
                                              CASTSelfSupDataPreProcessor)

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def batch(B=4, H=16, W=16, num_classes=4):
    """BGR images (0..255) with a label channel, as Superpixels+PackInputs
    leave them; one distinct class per sample."""
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (B, 3, H, W), generator=g).float()
    labels = torch.randint(0, 9, (B, 1, H, W), generator=g).float()
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(B)]
    return torch.cat([imgs, labels], 1), samples


def normalised(bgr):
    rgb = bgr.flip(1)
    return (rgb - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(
        STD).view(1, 3, 1, 1)


def test_cls_preprocessor_normalises_image_and_keeps_labels():
    x, samples = batch()
    pre = CASTClsDataPreProcessor(mean=MEAN, std=STD, to_rgb=True,
                                  num_classes=4)
    out = pre(dict(inputs=x.clone(), data_samples=samples), training=True)
    assert out['inputs'].shape == (4, 4, 16, 16)
    # BGR->RGB flip and normalisation reach the image (the stock module
    # only flips 3-channel batches) ...
    torch.testing.assert_close(out['inputs'][:, :3], normalised(x[:, :3]))
    # ... and the label channel is exactly the input's.
    assert torch.equal(out['inputs'][:, 3], x[:, 3])


def test_cls_preprocessor_pads_labels_with_minus_one():
    x, samples = batch(B=2, H=13, W=10)
    pre = CASTClsDataPreProcessor(mean=MEAN, std=STD, to_rgb=True,
                                  pad_size_divisor=8, num_classes=4)
    # pseudo_collate: a list of samples
    out = pre(dict(inputs=list(x), data_samples=samples))
    assert out['inputs'].shape == (2, 4, 16, 16)
    assert torch.equal(out['inputs'][:, 3, :13, :10], x[:, 3])
    assert (out['inputs'][:, 3, 13:] == -1).all()
    assert (out['inputs'][:, 3, :, 10:] == -1).all()
    assert (out['inputs'][:, :3, 13:] == 0).all()


def test_mixup_mixes_images_only():
    x, samples = batch()
    pre = CASTClsDataPreProcessor(
        mean=MEAN, std=STD, to_rgb=True, num_classes=4,
        batch_augments=dict(augments=dict(type='Mixup', alpha=0.8)))
    torch.manual_seed(3)
    out = pre(dict(inputs=x.clone(), data_samples=samples), training=True)
    imgs, ref = out['inputs'][:, :3], normalised(x[:, :3])
    # each sample keeps its own, unmixed superpixels
    assert torch.equal(out['inputs'][:, 3], x[:, 3])
    mixed = 0
    for i, s in enumerate(out['data_samples']):
        score = s.gt_score
        lam = score[i].item()
        if lam >= 1 - 1e-6:
            torch.testing.assert_close(imgs[i], ref[i])
            continue
        j = int(torch.argmax(torch.where(
            torch.arange(4) == i, torch.zeros(4), score)))
        # the image is lam * own + (1 - lam) * partner
        torch.testing.assert_close(imgs[i],
                                   lam * ref[i] + (1 - lam) * ref[j])
        assert not torch.allclose(imgs[i], ref[i])
        mixed += 1
    assert mixed > 0


def test_cutmix_pastes_images_only():
    x, samples = batch(H=32, W=32)
    pre = CASTClsDataPreProcessor(
        mean=MEAN, std=STD, to_rgb=True, num_classes=4,
        batch_augments=dict(augments=dict(type='CutMix', alpha=1.0)))
    torch.manual_seed(0)
    out = pre(dict(inputs=x.clone(), data_samples=samples), training=True)
    imgs, ref = out['inputs'][:, :3], normalised(x[:, :3])
    assert torch.equal(out['inputs'][:, 3], x[:, 3])
    pasted = (imgs != ref).any(1)  # (B, H, W) pixels from another image
    assert pasted.any()
    for i in range(4):
        if pasted[i].any():
            # pasted pixels come from one other sample of the batch
            src = [j for j in range(4) if j != i and torch.equal(
                imgs[i][:, pasted[i]], ref[j][:, pasted[i]])]
            assert src, f'sample {i}: pasted pixels from no other image'


def test_missing_superpixel_channel_is_a_clear_error():
    x, samples = batch()
    pre = CASTClsDataPreProcessor(mean=MEAN, std=STD, num_classes=4,
                                  missing_superpixels='error')
    with pytest.raises(ValueError, match='Superpixels'):
        pre(dict(inputs=x[:, :3], data_samples=samples))
    selfsup = CASTSelfSupDataPreProcessor(mean=MEAN, std=STD, to_rgb=True,
                                          missing_superpixels='error')
    with pytest.raises(ValueError, match='Superpixels'):
        selfsup(dict(inputs=[x, x[:, :3]], data_samples=samples))


def test_selfsup_preprocessor_keeps_each_views_labels():
    x1, samples = batch()
    x2 = x1.clone()
    x2[:, 3] = torch.randint(0, 5, x2[:, 3].shape).float()
    x2[:, :3] = 255 - x2[:, :3]
    pre = CASTSelfSupDataPreProcessor(mean=MEAN, std=STD, to_rgb=True)
    out = pre(dict(inputs=[x1.clone(), x2.clone()], data_samples=samples))
    assert isinstance(out['inputs'], list) and len(out['inputs']) == 2
    for got, ref in zip(out['inputs'], (x1, x2)):
        assert got.shape == (4, 4, 16, 16)
        torch.testing.assert_close(got[:, :3], normalised(ref[:, :3]))
        assert torch.equal(got[:, 3], ref[:, 3])
