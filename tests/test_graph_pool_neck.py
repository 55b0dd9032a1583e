# Copyright (c) mmcast contributors. All rights reserved.
"""GraphPool as a neck after a stock ViT (CAST Table 3a, "patch +
pooling"): the same model as CAST's patch path on a patch-grid superpixel
map, the same outputs for the head, the hierarchy API and the metrics."""
import logging
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

import mmcast  # noqa: F401
from mmcast.models import CAST, PatchTokenViT
from mmcast.models.backbones.patch_token_vit import cast_state_dict
from mmcast.models.necks import GraphPoolNeck
from mmcast.models.necks.graph_pool_neck import patch_grid_labels
from mmcast.registry import PRETRAIN_MODELS, SEG_MODELS

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def quiet():
    MMLogger.get_current_instance().setLevel(logging.WARNING)


def tiny_vit(layers=1, **kwargs):
    cfg = dict(type='mmpretrain.VisionTransformer',
               arch=dict(embed_dims=32, num_layers=layers, num_heads=2,
                         feedforward_channels=128),
               img_size=64, patch_size=8, out_type='raw', final_norm=False)
    cfg.update(kwargs)
    return cfg


def tiny_neck(**kwargs):
    cfg = dict(type='GraphPoolNeck', depths=(1, 1, 1, 1), num_heads=2,
               num_clusters=(16, 8, 4, 2), pool_num_heads=2)
    cfg.update(kwargs)
    return cfg


def patch_model(**neck):
    quiet()
    model = PatchTokenViT(vit=tiny_vit(), neck=tiny_neck(**neck))
    model.init_weights()
    return model.eval()


def test_grid_superpixels_through_the_patch_path_are_the_patch_model():
    """"Same model", exactly: a ``CAST(stem='patch', pos_embed='learned',
    token_pooling='stem')`` holding the weights of a ViT + GraphPoolNeck
    (renamed one to one by ``cast_state_dict``: patch projection = stem,
    the ViT's position table and class token, its layers = the first blocks
    of stage 1, the neck's stages, norm and fusion = CAST's), given the
    superpixel map that numbers the 8x8 patches row-major, returns the same
    raw outputs -- per-stage tokens, class tokens, logits, sampled indices,
    pooled tokens, hierarchy, image feature, fused tokens and the level-0
    map -- for any image, here a non-square batch."""
    torch.manual_seed(0)
    model = patch_model(with_fusion=True)
    cast = CAST(arch=dict(embed_dims=32, depths=[2, 1, 1, 1], num_heads=2),
                img_size=64, num_clusters=[16, 8, 4, 2], pos_embed='learned',
                token_pooling='stem', stem='patch', patch_size=8,
                pool_num_heads=2, with_fusion=True, out_type='raw').eval()
    missing = cast.load_state_dict(cast_state_dict(model.state_dict(), 1))
    assert not missing.missing_keys and not missing.unexpected_keys
    img = torch.randn(2, 3, 48, 64)
    grid = patch_grid_labels((6, 8), 8, (48, 64), 2)
    with torch.no_grad():
        ours = model(img)
        theirs = cast(img, grid)
    assert torch.equal(ours['superpixels'], theirs['superpixels'])
    assert ours['feat_size'] == theirs['feat_size'] == (6, 8)
    for key in ('cls_feat', 'fused_tokens', 'fused_cls'):
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-6, rtol=0)
    for a, b in zip(ours['stages'], theirs['stages']):
        for key in ('tokens', 'block_cls', 'cls_token', 'logits', 'pooled'):
            torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
        assert torch.equal(a['fps_idx'], b['fps_idx'])
    for a, b in zip(ours['hierarchy'], theirs['hierarchy']):
        assert torch.equal(a, b)
    # A real superpixel map gives another model: the grid is what makes
    # them equal.
    with torch.no_grad():
        other = cast(img, patch_grid_labels((6, 8), 8, (48, 64), 2) // 2)
    assert other['stages'][0]['tokens'].shape[1] == 24


def test_patch_grid_labels():
    labels = patch_grid_labels((2, 3), 4, (7, 12), 1)[0]
    assert labels[0].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert labels[6].tolist() == [3] * 4 + [4] * 4 + [5] * 4
    with pytest.raises(ValueError, match='does not cover'):
        patch_grid_labels((2, 3), 4, (9, 12), 1)


def test_neck_outputs_match_cast_kinds():
    torch.manual_seed(0)
    model = patch_model()
    x = torch.randn(2, 4, 64, 64)  # a 4th (superpixel) channel is ignored
    with torch.no_grad():
        raw = model(x)
        model.out_type = 'cls_token'
        cls_feat, = model(x)
        model.out_type = 'featmap'
        maps = model(x)
    torch.testing.assert_close(cls_feat, raw['cls_feat'])
    assert [m.shape for m in maps] == [(2, 32, 8, 8)] * 4
    assert raw['num_superpixels'].tolist() == [64, 64]
    assert model.num_clusters == [16, 8, 4, 2] and model.num_stages == 4
    model.out_type = 'raw'
    with torch.no_grad():
        small = model(x, num_clusters=[8, 4, 2, 1])
    assert small['stages'][0]['logits'].shape[-1] == 8


def test_neck_refuses_what_it_cannot_read():
    quiet()
    with pytest.raises(ValueError, match='final_norm=False'):
        PatchTokenViT(vit=tiny_vit(final_norm=True), neck=tiny_neck())
    with pytest.raises(ValueError, match="out_type='raw'"):
        PatchTokenViT(vit=tiny_vit(out_type='featmap'), neck=tiny_neck())
    neck = GraphPoolNeck(**{k: v for k, v in tiny_neck().items()
                            if k != 'type'}, embed_dims=32, patch_size=8)
    with pytest.raises(TypeError, match='keeps the class token'):
        neck((torch.randn(1, 32, 4, 4), ))
    with pytest.raises(ValueError, match='patch_size'):
        neck(torch.randn(1, 1 + 16, 32), img_shape=(64, 64))
    # A plain ViT has no stages: not a CAST-like backbone for the API.
    plain = PatchTokenViT(vit=tiny_vit(out_type='featmap'))
    assert not hasattr(plain, 'num_stages')
    assert not hasattr(plain, 'num_clusters')


def test_neck_after_mmsegs_vit_trains_in_an_encoder_decoder():
    """mmseg's stock ViT (output_cls_token) + GraphPoolNeck + the CAST head
    in a stock EncoderDecoder with mmseg's own preprocessor."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    quiet()
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        seg = SEG_MODELS.build(ConfigDict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=MEAN,
                                   std=STD, size=(64, 64)),
            backbone=dict(type='mmseg.VisionTransformer', img_size=(64, 64),
                          patch_size=8, embed_dims=32, num_layers=1,
                          num_heads=2, mlp_ratio=2, output_cls_token=True,
                          final_norm=False),
            neck=tiny_neck(embed_dims=32, patch_size=8, with_fusion=True),
            decode_head=dict(type='HypercolumnUnpoolHead', in_channels=32,
                             num_classes=3, decoder='conv',
                             norm_cfg=dict(type='BN'),
                             loss_decode=dict(type='CrossEntropyLoss')),
            train_cfg=dict(), test_cfg=dict(mode='whole')))
    seg.init_weights()
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64),
                                        ori_shape=(64, 64),
                                        pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 64)))
        samples.append(s)
    losses = seg.loss(torch.randn(2, 3, 64, 64), samples)
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    for stage in seg.neck.stages:
        assert stage.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    seg.eval()
    with torch.no_grad():
        pred = seg.predict(torch.randn(1, 3, 64, 64), samples[:1])
    assert pred[0].pred_sem_seg.data.shape == (1, 64, 64)


def test_neck_in_an_mmpretrain_classifier():
    """mmpretrain's ImageClassifier: the ViT as backbone, the neck as neck
    (square grid inferred from the token count)."""
    quiet()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        clf = PRETRAIN_MODELS.build(dict(
            type='ImageClassifier',
            backbone=tiny_vit(),
            neck=tiny_neck(embed_dims=32, patch_size=8,
                           out_type='cls_token'),
            head=dict(type='LinearClsHead', num_classes=5, in_channels=32)))
    clf.init_weights()
    with torch.no_grad():
        scores = clf(torch.randn(2, 3, 64, 64), mode='tensor')
    assert scores.shape == (2, 5)


def test_hierarchy_api_takes_the_patch_model():
    import skimage.data

    from mmcast.apis import inference_hierarchy
    from tests.hierarchy_helpers import nesting_violations
    quiet()
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = SEG_MODELS.build(dict(
            type='HierarchySegmentor',
            data_preprocessor=dict(type='CASTSegDataPreProcessor',
                                   mean=MEAN, std=STD, bgr_to_rgb=True),
            backbone=dict(type='PatchTokenViT', vit=tiny_vit(),
                          neck=tiny_neck())))
    model.init_weights()
    model.eval()
    img = skimage.data.coffee()[::5, ::5]  # 80 x 120
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        res = inference_hierarchy(model, img, channel_order='rgb',
                                  return_soft=True)
    assert res.num_clusters == [16, 8, 4, 2]
    # Level 0 is the 8x8 patch grid of the image (10 x 15 patches).
    assert res.superpixels.shape == (80, 120)
    expected = patch_grid_labels((10, 15), 8, (80, 120), 1)[0].numpy()
    np.testing.assert_array_equal(res.superpixels, expected)
    assert nesting_violations(res.levels) == []
    assert [s.shape for s in res.soft] == [(150, 16), (150, 8), (150, 4),
                                          (150, 2)]
