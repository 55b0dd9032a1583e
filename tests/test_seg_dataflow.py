# Copyright (c) mmcast contributors. All rights reserved.
"""Image and superpixels travel together through mmseg: preprocessing and
padding, sliding windows, test-time augmentation, the head's scatter."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

import mmcast  # noqa: F401
from mmcast.apis.launch import check_config
from mmcast.models.decode_heads import HypercolumnUnpoolHead
from tests.conftest import ROOT
from tests.test_superpixel_transform import purity, region_image

TOY = ROOT + '/configs/cast_toy_scenes.py'


def toy_cfg():
    cfg = Config.fromfile(TOY)
    cfg.model.backbone.arch = dict(embed_dims=32, depths=[1, 1, 1, 1],
                                   num_heads=2)
    cfg.model.backbone.num_clusters = [16, 8, 4, 2]
    cfg.model.decode_head.in_channels = 32
    return cfg


def build(cfg_model):
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg_model)
    model.init_weights()
    return model


def sample_tensor(img, sp):
    """(4, H, W) packed sample: BGR image + superpixel channel."""
    x = np.concatenate([img.astype(np.float32), sp[..., None]], -1)
    return torch.from_numpy(x).permute(2, 0, 1).contiguous()


def record_backbone_inputs(model):
    seen = []
    forward = model.backbone.forward

    def spy(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return forward(x, *args, **kwargs)

    model.backbone.forward = spy
    return seen


def test_preprocessor_pads_superpixels_with_minus_one():
    cfg = toy_cfg()
    model = build(cfg.model)
    pre = model.data_preprocessor
    a = sample_tensor(np.full((40, 48, 3), 10, np.uint8),
                      np.arange(40 * 48).reshape(40, 48) % 5)
    b = sample_tensor(np.full((112, 100, 3), 200, np.uint8),
                      np.zeros((112, 100)))
    samples = []
    for h, w in ((40, 48), (112, 100)):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.zeros(1, h, w, dtype=torch.long))
        samples.append(s)
    out = pre(dict(inputs=[a, b], data_samples=samples), training=True)
    x = out['inputs']
    assert x.shape == (2, 4, 112, 112)
    # Superpixels: kept inside the image, -1 in the padding.
    assert torch.equal(x[0, 3, :40, :48], a[3])
    assert (x[0, 3, 40:] == -1).all() and (x[0, 3, :, 48:] == -1).all()
    assert (x[1, 3, :, 100:] == -1).all()
    # Images: normalised (BGR->RGB), padded with pad_val 0.
    mean = torch.tensor([123.675, 116.28, 103.53])
    std = torch.tensor([58.395, 57.12, 57.375])
    torch.testing.assert_close(x[0, :3, 0, 0], (10 - mean) / std)
    assert (x[0, :3, 40:] == 0).all()
    assert (out['data_samples'][0].gt_sem_seg.data[0, 40:] == 255).all()
    cfg.model.data_preprocessor.missing_superpixels = 'error'
    with pytest.raises(ValueError, match="type='Superpixels'"):
        build(cfg.model).data_preprocessor(
            dict(inputs=[a[:3]], data_samples=samples[:1]), training=True)


def test_slide_windows_get_exactly_their_superpixels():
    cfg = toy_cfg()
    cfg.model.test_cfg = dict(mode='slide', crop_size=(48, 48),
                              stride=(32, 32))
    model = build(cfg.model).eval()
    seen = record_backbone_inputs(model)
    img, ids = region_image(5, size=(96, 80))
    from mmcast.datasets.transforms import compute_superpixels
    sp = compute_superpixels(img, 40)
    sample = SegDataSample(metainfo=dict(img_shape=(96, 80),
                                         ori_shape=(96, 80)))
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[sample_tensor(img, sp)],
                                    data_samples=[sample]))[0]
    assert pred.seg_logits.data.shape == (5, 96, 80)
    full = torch.from_numpy(sp).float()
    covered = torch.zeros(96, 80, dtype=torch.bool)
    assert len(seen) == 6  # 3 x 2 windows
    for x in seen:
        win = x[0, 3]
        h, w = win.shape
        assert (h, w) == (48, 48)
        matches = [(y0, x0) for y0 in range(96 - h + 1)
                   for x0 in range(80 - w + 1)
                   if torch.equal(full[y0:y0 + h, x0:x0 + w], win)]
        assert matches, 'a window does not carry the crop of its pixels'
        y0, x0 = matches[0]
        covered[y0:y0 + h, x0:x0 + w] = True
        # The window's image is the crop of the image at the same place.
        norm = (torch.from_numpy(img[y0:y0 + h, x0:x0 + w, ::-1].copy())
                .permute(2, 0, 1).float() - model.data_preprocessor.mean
                ) / model.data_preprocessor.std
        torch.testing.assert_close(x[0, :3], norm)
    assert covered.all()


def test_flip_tta_views_carry_their_own_superpixels(tmp_path):
    import cv2
    cfg = toy_cfg()
    img, _ = region_image(6, size=(64, 64))
    path = str(tmp_path / 'im.png')
    cv2.imwrite(path, img)
    ann = str(tmp_path / 'gt.png')
    cv2.imwrite(ann, np.ones((64, 64), np.uint8))
    from mmseg.registry import MODELS, TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipe = Compose([TRANSFORMS.build(t) for t in cfg.tta_pipeline])
        tta = MODELS.build(dict(type='SegTTAModel', module=cfg.model))
    tta.module.init_weights()
    tta.eval()
    data = pipe(dict(img_path=path, seg_map_path=ann, reduce_zero_label=True,
                     seg_fields=[]))
    # 2 scales x 2 flips, each view with its own superpixel channel.
    assert len(data['inputs']) == 4
    for x, s in zip(data['inputs'], data['data_samples']):
        view = x[:3].permute(1, 2, 0).numpy().astype(np.uint8)
        # The view's own region borders: recompute them from the colours.
        regions = np.unique(view.reshape(-1, 3), axis=0,
                            return_inverse=True)[1].reshape(view.shape[:2])
        if s.metainfo['scale_factor'][0] == 1.0:
            assert purity(x[3].numpy().astype(np.int64), regions) > 0.9
    batch = dict(inputs=[[x] for x in data['inputs']],
                 data_samples=[[s] for s in data['data_samples']])
    with torch.no_grad():
        out = tta.test_step(batch)
    assert out[0].pred_sem_seg.data.shape == (1, 64, 64)


def test_training_batch_with_unequal_superpixel_counts_and_small_image():
    cfg = toy_cfg()
    model = build(cfg.model).train()
    flat = sample_tensor(np.full((64, 64, 3), 90, np.uint8),
                         np.zeros((64, 64)))  # one superpixel
    img, ids = region_image(7, size=(112, 112))
    from mmcast.datasets.transforms import compute_superpixels
    busy = sample_tensor(img, compute_superpixels(img, 100))
    samples = []
    for h, lab in ((64, 1), (112, 2)):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.full((1, h, h), lab, dtype=torch.long))
        samples.append(s)
    seen = record_backbone_inputs(model)
    data = model.data_preprocessor(
        dict(inputs=[flat, busy], data_samples=samples), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    # The 64 px image (smaller than the 112 crop) was padded with "no
    # superpixel" rather than rejected.
    assert (seen[0][0, 3, 64:] == -1).all()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_head_scatter_hand_computed():
    head = HypercolumnUnpoolHead(in_channels=2, num_classes=3,
                                 dropout_ratio=0.)
    with torch.no_grad():
        head.conv_seg.weight.copy_(
            torch.tensor([[1., 0.], [0., 1.], [1., 1.]])[..., None, None])
        head.conv_seg.bias.copy_(torch.tensor([0., 10., -1.]))
    tokens = torch.tensor([[[1., 2.], [3., 4.], [5., 6.]]])
    labels = torch.tensor([[[0, 1, 1], [2, 2, -1]]])
    out = head(dict(fused_tokens=tokens, superpixels=labels))
    per_token = torch.tensor([[1., 12., 2.], [3., 14., 6.], [5., 16., 10.]])
    expected = torch.zeros(1, 3, 2, 3)
    for y in range(2):
        for x in range(3):
            if labels[0, y, x] >= 0:
                expected[0, :, y, x] = per_token[labels[0, y, x]]
    assert torch.equal(out, expected)


def test_head_fuses_itself_when_the_backbone_does_not():
    cfg = toy_cfg()
    cfg.model.backbone.with_fusion = False
    cfg.model.decode_head.fusion = dict(num_levels=4)
    model = build(cfg.model).eval()
    img, _ = region_image(8, size=(64, 64))
    from mmcast.datasets.transforms import compute_superpixels
    x = sample_tensor(img, compute_superpixels(img, 30))
    sample = SegDataSample(metainfo=dict(img_shape=(64, 64),
                                         ori_shape=(64, 64)))
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[x], data_samples=[sample]))[0]
    assert pred.seg_logits.data.shape == (5, 64, 64)
    cfg.model.decode_head.fusion = None
    model = build(cfg.model).eval()
    with pytest.raises(ValueError, match='with_fusion=True'):
        model.test_step(dict(inputs=[x], data_samples=[sample]))


def test_clear_error_for_missing_dataset_root(tmp_path):
    cfg = toy_cfg()
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError) as e:
        check_config(cfg)
    msg = str(e.value)
    assert str(tmp_path / 'nowhere') in msg and '\n' not in msg
    assert 'docs/datasets.md' in msg


def test_clear_error_for_pipeline_without_superpixels(tmp_path):
    from mmcast.datasets import generate_toy_scenes
    root = generate_toy_scenes(str(tmp_path / 'toy'), 2, 1, 32)

    def without_transform(**policies):
        cfg = _with_root(toy_cfg(), root)
        cfg.train_dataloader.dataset.pipeline = [
            t for t in cfg.train_dataloader.dataset.pipeline
            if t['type'] != 'Superpixels'
        ]
        for where, policy in policies.items():
            node = cfg.model.data_preprocessor if where == 'pre' else \
                cfg.model.backbone
            node.missing_superpixels = policy
        return cfg

    # With the default policy the model computes them: nothing to report.
    check_config(without_transform())
    check_config(without_transform(pre='grid', backbone='error'))
    with pytest.raises(ValueError, match="no dict\\(type='Superpixels'\\)"):
        check_config(without_transform(pre='error'))
    with pytest.raises(ValueError, match="policy is 'error'"):
        check_config(without_transform(pre=dict(policy='error')))
    # A stock preprocessor leaves the decision to the backbone.
    cfg = without_transform(backbone='error')
    cfg.model.data_preprocessor.type = 'SegDataPreProcessor'
    with pytest.raises(ValueError, match="no dict\\(type='Superpixels'\\)"):
        check_config(cfg)
    # The same config with superpixels passes the check.
    cfg = _with_root(toy_cfg(), root)
    cfg.model.data_preprocessor.missing_superpixels = 'error'
    check_config(cfg)


def _with_root(cfg, root):
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    return cfg


@pytest.mark.parametrize('decoder', ['mask_transformer', 'linear'])
@pytest.mark.parametrize('mode', ['test', 'train_frozen_bn'])
def test_logits_alone_equal_logits_beside_a_batch_mate(decoder, mode):
    """An image's pixel logits do not depend on a batch-mate with more
    superpixels (its tokens are padded: the backbone and the mask
    transformer mask them), in test mode and in train mode with batch
    norm frozen (dropouts off)."""
    from mmcast.datasets.transforms import compute_superpixels
    cfg = toy_cfg()
    cfg.model.decode_head.update(decoder=decoder, num_heads=2)
    torch.manual_seed(0)
    model = build(cfg.model)
    if mode == 'test':
        model.eval()
    else:
        model.train()
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
            elif isinstance(m, torch.nn.Dropout):
                m.p = 0.
            elif isinstance(m, torch.nn.MultiheadAttention):
                m.dropout = 0.  # on the attention weights
    img_a, _ = region_image(3, size=(64, 64))
    img_b, _ = region_image(9, size=(64, 64))
    xa = sample_tensor(img_a, compute_superpixels(img_a, 12))
    xb = sample_tensor(img_b, compute_superpixels(img_b, 40))
    assert xa[3].max() + 4 < xb[3].max()  # b has many more superpixels
    meta = [dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))]
    data = model.data_preprocessor(
        dict(inputs=[xa, xb], data_samples=[SegDataSample()] * 2), False)
    with torch.no_grad():
        both = model.encode_decode(data['inputs'], meta * 2)
        alone = model.encode_decode(data['inputs'][:1], meta)
    torch.testing.assert_close(both[:1], alone, atol=1e-5, rtol=0)
