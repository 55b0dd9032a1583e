# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart's parts: Sinkhorn-Knopp, crop alignment, the attention
foreground, CAST's class attention, the multi-crop transform, the EMA
teacher and a whole loss step on ViT and CAST."""
import math

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, default_collate
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

import mmcast  # noqa: F401
from mmcast.datasets.toy_scenes import render_scene
from mmcast.datasets.transforms.superpixel import compute_superpixels
from mmcast.models.utils import (align_to_box, attention_foreground,
                                 dense_features, overlap_boxes,
                                 sinkhorn_knopp)
from mmcast.registry import PRETRAIN_MODELS

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


# ---------------------------------------------------------------- Sinkhorn
def test_sinkhorn_hand_case():
    # plan exp(scores) = [[2, 1], [1, 1]] (clusters x samples), one round:
    # /5 -> rows to 1/2 -> [[1/3, 1/6], [1/4, 1/4]] -> columns to 1/2
    scores = torch.log(torch.tensor([[2., 1.], [1., 1.]])).t()
    plan = sinkhorn_knopp(scores, epsilon=1., num_iters=1, return_plan=True)
    expected = torch.tensor([[2 / 7, 1 / 5], [3 / 14, 3 / 10]])
    assert torch.allclose(plan, expected, atol=1e-6)
    q = sinkhorn_knopp(scores, epsilon=1., num_iters=1)
    assert torch.allclose(q, torch.tensor([[4 / 7, 3 / 7], [2 / 5, 3 / 5]]),
                          atol=1e-6)


def test_sinkhorn_balances_rows_and_columns():
    scores = torch.randn(60, 5) * 0.3
    scores[:, 0] += 1.  # every sample prefers cluster 0 ...
    plan = sinkhorn_knopp(scores, epsilon=0.05, num_iters=50,
                          return_plan=True)
    # ... yet every cluster ends up with 1/K of the mass, every sample 1/N
    assert torch.allclose(plan.sum(1), torch.full((5, ), 1 / 5), atol=1e-4)
    assert torch.allclose(plan.sum(0), torch.full((60, ), 1 / 60),
                          atol=1e-6)
    q = sinkhorn_knopp(scores, epsilon=0.05, num_iters=50)
    assert torch.allclose(q.sum(1), torch.ones(60), atol=1e-5)
    assert torch.allclose(q.mean(0), torch.full((5, ), 1 / 5), atol=1e-3)
    # without balancing, the softmax would put most mass on cluster 0
    assert (scores / 0.05).softmax(1)[:, 0].mean() > 0.9
    with pytest.raises(ValueError, match='epsilon'):
        sinkhorn_knopp(scores, epsilon=0.)


# --------------------------------------------------------------- alignment
def test_overlap_boxes_in_each_crop_frame():
    # a 100x100 image: crop 0 the whole image at 64 px, crop 1 its
    # bottom-right quarter at 32 px, crop 2 the top-left 40x40 at 32 px
    boxes = torch.tensor([[[0., 0., 100., 100.], [50., 50., 100., 100.],
                           [0., 0., 40., 40.]]])
    out, valid = overlap_boxes(boxes, [(64, 64), (32, 32), (32, 32)])
    assert torch.allclose(out[0, 0, 1], torch.tensor([32., 32., 64., 64.]))
    assert torch.allclose(out[0, 1, 0], torch.tensor([0., 0., 32., 32.]))
    assert torch.allclose(out[0, 0, 2], torch.tensor([0., 0., 25.6, 25.6]))
    assert torch.allclose(out[0, 2, 0], torch.tensor([0., 0., 32., 32.]))
    assert valid[0].tolist() == [[True, True, True], [True, True, False],
                                 [True, False, True]]


def test_known_box_maps_to_the_right_cells():
    # crop 0 (64 px, stride 8: an 8x8 map whose cells hold their index);
    # its overlap with crop 1 is pixels 32..64, i.e. cells 4..7
    boxes = torch.tensor([[[0., 0., 100., 100.], [50., 50., 100., 100.]]])
    out, _ = overlap_boxes(boxes, [(64, 64), (32, 32)])
    cells = torch.arange(64.).view(1, 1, 8, 8)
    aligned = align_to_box(cells, out[:, 0, 1], spatial_scale=1 / 8,
                           output_size=4)
    assert torch.equal(aligned[0, 0], cells[0, 0, 4:, 4:])
    # crop 1's own 4x4 map (32 px at stride 8): the whole map
    own = torch.arange(16.).view(1, 1, 4, 4)
    assert torch.equal(
        align_to_box(own, out[:, 1, 0], 1 / 8, output_size=4), own)


# -------------------------------------------------------------- foreground
def test_foreground_keeps_the_stated_mass():
    att = torch.tensor([[[0.5, 0.3], [0.1, 0.1]]])
    fg = attention_foreground(att, keep_mass=0.6, blur_sigma=0, min_size=0)
    assert fg[0].tolist() == [[True, True], [False, False]]
    fg = attention_foreground(att, keep_mass=0.5, blur_sigma=0, min_size=0)
    assert fg[0].tolist() == [[True, False], [False, False]]
    # random maps: the kept cells are the fewest holding >= 60 % of the mass
    att = torch.rand(4, 9, 9)**3
    fg = attention_foreground(att, keep_mass=0.6, blur_sigma=0, min_size=0)
    for a, m in zip(att, fg):
        a = a / a.sum()
        kept = a[m]
        assert kept.sum() >= 0.6 - 1e-6
        assert kept.sum() - kept.min() < 0.6
        assert a[~m].max() <= kept.min()


def test_foreground_drops_small_regions():
    att = torch.zeros(1, 6, 6)
    att[0, :3, :3] = 1.  # a 3x3 block
    att[0, 5, 5] = 1.  # and an isolated cell
    fg = attention_foreground(att, keep_mass=1., blur_sigma=0, min_size=0)
    assert fg.sum() == 10
    fg = attention_foreground(att, keep_mass=1., blur_sigma=0, min_size=3)
    assert fg.sum() == 9 and not fg[0, 5, 5]


# ------------------------------------------------ CAST's class attention
def tiny_cast(**kwargs):
    cfg = dict(type='CAST', arch=dict(embed_dims=32, depths=[1, 1, 1, 1],
                                      num_heads=2), img_size=64,
               num_clusters=[16, 8, 4, 2], pool_num_heads=2, out_type='raw')
    cfg.update(kwargs)
    return PRETRAIN_MODELS.build(cfg)


def cast_inputs(n=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(n):
        img, _ = render_scene(rng, size)
        sp = compute_superpixels(img, (size // 8)**2)
        x = (torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).float()
             - torch.tensor(MEAN)[:, None, None]) / torch.tensor(
                 STD)[:, None, None]
        xs.append(torch.cat([x, torch.from_numpy(sp).float()[None]]))
    return torch.stack(xs)


def test_cast_class_attention_is_optional_and_exact():
    torch.manual_seed(0)
    plain = tiny_cast()
    plain.init_weights()
    with_att = tiny_cast(with_cls_attention=True)
    with_att.load_state_dict(plain.state_dict())
    plain.eval(), with_att.eval()
    x = cast_inputs()
    seen = {}
    block = with_att.stages[-1].blocks[-1]
    block.attn.register_forward_pre_hook(
        lambda m, args: seen.__setitem__('in', args))
    with torch.no_grad():
        a, b = plain(x), with_att(x)
    assert 'cls_attention' not in a
    for s_a, s_b in zip(a['stages'], b['stages']):  # outputs unchanged
        assert torch.equal(s_a['tokens'], s_b['tokens'])
    assert torch.equal(a['cls_feat'], b['cls_feat'])
    att = b['cls_attention']
    tokens, key_mask = seen['in'][:2]
    assert att.shape == (2, 2, tokens.shape[1])
    assert torch.allclose(att.sum(-1), torch.ones(2, 2), atol=1e-6)
    # the class row of softmax(q k^T / sqrt(d)) of the last block
    B, N, C = tokens.shape
    qkv = block.attn.qkv(tokens).view(B, N, 3, 2, C // 2)
    q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)
    logits = q[:, :, :1] @ k.transpose(-2, -1) / math.sqrt(C // 2)
    if key_mask is not None:
        logits = logits.masked_fill(key_mask[:, None, None], float('-inf'))
    assert torch.allclose(att, logits.softmax(-1)[:, :, 0], atol=1e-5)


def test_dense_features_of_cast_and_vit():
    torch.manual_seed(0)
    cast = tiny_cast(with_cls_attention=True)
    cast.init_weights()
    cast.eval()
    x = cast_inputs()
    with torch.no_grad():
        out = dense_features(cast, x, with_attention=True)
        raw = cast(x)
    assert out['feats'].shape == (2, 32, 8, 8)
    assert out['spatial_scale'] == 1 / 8
    # the attention map keeps the tokens' mass (the class token's own
    # weight aside), spread evenly over each token's cells
    token_mass = raw['cls_attention'][:, :, 1:].mean(1).sum(1)
    assert torch.allclose(out['attention'].sum((1, 2)), token_mass,
                          atol=1e-5)
    # a stage's map is its tokens painted on the grid, through the norm
    last = cast.to_featmaps(raw)[-1]
    last = cast.norm(last.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    with torch.no_grad():
        assert torch.allclose(
            dense_features(cast, x, cast_level=-1)['feats'], last,
            atol=1e-5)
    vit = PRETRAIN_MODELS.build(dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64),
        img_size=64, patch_size=8, out_type='featmap'))
    vit.eval()
    with torch.no_grad():
        out = dense_features(vit, x[:, :3], with_attention=True)
    assert out['feats'].shape == (2, 32, 8, 8)
    assert out['attention'].shape == (2, 8, 8)
    assert (out['attention'].sum((1, 2)) < 1).all()
    with pytest.raises(ValueError, match="out_type='raw'"):
        dense_features(tiny_cast(out_type='featmap'), x)


# ------------------------------------------------------------- multi-crop
def test_multi_crop_keeps_boxes_and_per_crop_superpixels():
    init_default_scope('mmpretrain')
    np.random.seed(3)
    img, _ = render_scene(np.random.default_rng(0), 128)
    pipe = Compose([dict(type='MultiCropWithBoxes', crop_sizes=(64, 32),
                         num_crops=(2, 4), min_intersection=0.05,
                         view_pipeline=[dict(type='Superpixels', stride=8)]),
                    dict(type='PackInputs', algorithm_keys=['crop_boxes'])])
    packed = pipe(dict(img=img))
    views, boxes = packed['inputs'], packed['data_samples'].crop_boxes
    assert [tuple(v.shape) for v in views] == [(4, 64, 64)] * 2 + \
        [(4, 32, 32)] * 4
    assert boxes.shape == (6, 4) and boxes.dtype == np.float32
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 128).all()
    for view, (x1, y1, x2, y2) in zip(views, boxes.astype(int)):
        size = view.shape[-1]
        crop = cv2.resize(img[y1:y2, x1:x2], (size, size))
        assert np.array_equal(view[:3].permute(1, 2, 0).numpy(), crop)
        # each crop carries the superpixels of its own pixels
        assert np.array_equal(view[3].numpy(),
                              compute_superpixels(crop, (size // 8)**2))
    # every crop shares >= 5 % of the image with each global crop (10 %
    # between the global crops)
    for i in range(1, 6):
        for g in range(min(i, 2)):
            w = min(boxes[i, 2], boxes[g, 2]) - max(boxes[i, 0], boxes[g, 0])
            h = min(boxes[i, 3], boxes[g, 3]) - max(boxes[i, 1], boxes[g, 1])
            assert w * h > (0.1 if i < 2 else 0.05) * 128 * 128


# ----------------------------------------------------- the algorithm
def leopart(kind, **kwargs):
    if kind == 'vit':
        backbone = dict(type='mmpretrain.VisionTransformer',
                        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                  feedforward_channels=64),
                        img_size=64, patch_size=8, out_type='featmap')
        pre = dict(type='SelfSupDataPreprocessor', mean=MEAN, std=STD,
                   to_rgb=True)
    else:
        backbone = dict(type='CAST', arch=dict(embed_dims=32,
                                               depths=[1, 1, 1, 1],
                                               num_heads=2),
                        img_size=64, num_clusters=[16, 8, 4, 2],
                        pool_num_heads=2, out_type='raw',
                        with_cls_attention=True)
        pre = dict(type='CASTSelfSupDataPreProcessor', mean=MEAN, std=STD,
                   to_rgb=True)
    cfg = dict(type='Leopart', backbone=backbone, data_preprocessor=pre,
               head=dict(type='LeopartHead', in_channels=32, hid_channels=64,
                         out_channels=16, num_prototypes=10))
    cfg.update(kwargs)
    model = PRETRAIN_MODELS.build(cfg)
    model.init_weights()
    return model


def crop_batch(kind, n=2):
    init_default_scope('mmpretrain')
    np.random.seed(0)
    views = [dict(type='Superpixels', stride=8)] if kind == 'cast' else []
    pipe = Compose([dict(type='MultiCropWithBoxes', crop_sizes=(64, 32),
                         view_pipeline=views),
                    dict(type='PackInputs', algorithm_keys=['crop_boxes'])])
    rng = np.random.default_rng(0)
    return default_collate(
        [pipe(dict(img=render_scene(rng, 128)[0])) for _ in range(n)])


@pytest.mark.parametrize('kind', ['vit', 'cast'])
def test_leopart_step_trains_the_student_only(kind):
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = leopart(kind)
    data = model.data_preprocessor(crop_batch(kind), True)
    with torch.no_grad():
        model.head.prototypes.weight.mul_(3.)
    loss = model.loss(data['inputs'], data['data_samples'])['loss']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    # prototypes are unit vectors again, in the student and the teacher
    for head in (model.head, model.teacher.module['head']):
        norms = head.prototypes.weight.norm(dim=1)
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    grads = [p.grad for n, p in model.named_parameters()
             if n.startswith(('backbone.', 'head.')) and p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0)
               for g in grads) > 0.8 * len(grads)
    assert all(p.grad is None for p in model.teacher.parameters())


def test_teacher_is_the_cosine_ema_of_the_student():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = leopart('vit', base_momentum=0.1)
    data = model.data_preprocessor(crop_batch('vit'), True)
    name = 'backbone.layers.0.attn.qkv.weight'
    student = dict(model.named_parameters())[name]
    teacher = dict(model.teacher.module.named_parameters())[name[:]]
    model.loss(data['inputs'], data['data_samples'])  # step 0 copies
    assert torch.equal(teacher, student)
    old = student.detach().clone()
    with torch.no_grad():
        student.add_(1.)
    model.loss(data['inputs'], data['data_samples'])
    # step 1 of 10: weight of the student 0.1 * (cos(pi / 10) + 1) / 2
    m = 0.1 * (math.cos(math.pi / 10) + 1) / 2
    assert torch.allclose(teacher, (1 - m) * old + m * (old + 1), atol=1e-6)


def test_leopart_rejects_bad_input():
    model = leopart('vit')
    data = model.data_preprocessor(crop_batch('vit'), True)
    with pytest.raises(ValueError, match='more than 2 views'):
        model.loss(data['inputs'][:2], data['data_samples'])
    with pytest.raises(ValueError, match='loss_mask'):
        leopart('vit', loss_mask='everything')
