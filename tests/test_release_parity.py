# Copyright (c) mmcast contributors. All rights reserved.
"""The port against outputs of the authors' release code.

Every ``cast_release_*.pt`` in ``tests/data/release/`` (or in the directory
named by ``MMCAST_RELEASE_FIXTURES``) is converted with
``tools/model_converters/cast2mmcast.py``, loaded through ``init_cfg``
Pretrained, run on the fixture's image and superpixels, and compared with
every output the release recorded.
"""
import glob
import os.path as osp

import pytest
import torch

from mmcast.models.utils.release_ckpt import release_backbone_cfg
from mmcast.registry import SEG_MODELS
from tests.conftest import load_tool, release_fixture_dir

# Backbone fixtures; the whole segmentor (encoder + decoder) has its own
# test, tests/test_release_segmentor.py.
FIXTURES = sorted(p for p in glob.glob(
    osp.join(release_fixture_dir(), 'cast_release_*.pt'))
    if 'segmenter' not in osp.basename(p))
ATOL = 1e-4


def test_fixtures_present():
    assert FIXTURES, f'no cast_release_*.pt in {release_fixture_dir()}'


@pytest.fixture(scope='module')
def converter():
    return load_tool('tools/model_converters/cast2mmcast.py')


def build_from_fixture(fix, converter, tmp_path):
    src = tmp_path / 'release.pth'
    torch.save(fix['checkpoint'], src)
    dst = tmp_path / 'converted.pth'
    converted = converter.convert(str(src), str(dst))
    meta = converted['meta']['cast_release']
    kwargs = fix['release_kwargs']
    cfg = release_backbone_cfg(meta, kwargs['num_heads'],
                               kwargs['num_clusters'],
                               kwargs.get('model_stage'))
    # The fixture says what the release built its position table for.
    cfg.update(img_size=tuple(fix['img_size']), out_type='raw',
               init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model = SEG_MODELS.build(cfg)
    model.init_weights()
    # The converted file fits the backbone exactly.
    missing, unexpected = model.load_state_dict(
        converted['state_dict'], strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model.eval(), meta, converted


def expected_outputs(out, fix, converted):
    """Our outputs under the release's names."""
    ours = {}
    for i, stage in enumerate(out['stages'], 1):
        ours[f'block{i}'] = stage['tokens']
        ours[f'logit{i}'] = stage['logits']
        ours[f'centroid{i}'] = stage['pooled']
        ours[f'sampled_inds{i}'] = stage['fps_idx']
    ours['out4'] = ours['features'] = out['cls_feat']
    if 'fused_tokens' in out:
        ours['tokens'] = torch.cat([out['fused_cls'], out['fused_tokens']],
                                   dim=1)
    head = converted['meta']['cast_release']
    if head['head_shape'] is not None:
        # The release's linear head, from the original checkpoint.
        from mmcast.models.utils.release_ckpt import \
            convert_release_state_dict
        w = convert_release_state_dict(fix['checkpoint'])[1]['head']
        feat = out['fused_tokens'] if 'fused_tokens' in out \
            else out['cls_feat']
        ours['head'] = feat @ w['weight'].t() + w['bias']
    return ours


@pytest.mark.parametrize('path', FIXTURES,
                         ids=[osp.basename(p) for p in FIXTURES])
def test_release_parity(path, converter, tmp_path):
    fix = torch.load(path, map_location='cpu', weights_only=False)
    model, meta, converted = build_from_fixture(fix, converter, tmp_path)
    if 'pos_embed' in fix.get('fixed', {}):
        # The sin-cos table we rebuild is the release's, quirks included.
        torch.testing.assert_close(
            model.pos_embed, fix['fixed']['pos_embed'], rtol=0, atol=1e-6)
    with torch.no_grad():
        out = model(fix['image_normalized'], fix['superpixels'])
    ours = expected_outputs(out, fix, converted)
    assert set(fix['outputs']) <= set(ours), set(fix['outputs']) - set(ours)
    for name, ref in fix['outputs'].items():
        got = ours[name]
        assert got.shape == ref.shape, (name, got.shape, ref.shape)
        if ref.dtype == torch.int64:
            assert torch.equal(got, ref), f'{name}: FPS picks differ'
        else:
            err = (got - ref).abs().max().item()
            assert err <= ATOL, f'{name}: max abs error {err:.2e}'


@pytest.mark.parametrize('path', FIXTURES[:1])
def test_parity_detects_a_wrong_weight(path, converter, tmp_path):
    """The comparison is sharp: one perturbed tensor breaks it."""
    fix = torch.load(path, map_location='cpu', weights_only=False)
    model, _, converted = build_from_fixture(fix, converter, tmp_path)
    with torch.no_grad():
        model.stages[0].blocks[0].ffn.layers[1].weight.mul_(1.01)
        out = model(fix['image_normalized'], fix['superpixels'])
    ours = expected_outputs(out, fix, converted)
    name = 'block1' if 'block1' in fix['outputs'] else sorted(
        fix['outputs'])[0]
    assert (ours[name] - fix['outputs'][name]).abs().max() > ATOL


def test_head_side_fusion_reproduces_the_deit_seg_fixture(converter,
                                                          tmp_path):
    """The hypercolumn fusion, when it lives in the decode head (backbone
    built without it), gives the release's fused tokens too."""
    from mmcast.models.decode_heads import HypercolumnUnpoolHead
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'release',
                    'cast_release_deit_seg_small.pt')
    fix = torch.load(path, map_location='cpu', weights_only=False)
    model, meta, converted = build_from_fixture(fix, converter, tmp_path)
    state = converted['state_dict']
    backbone_cfg = release_backbone_cfg(meta, 4, [20, 10, 5, 3])
    backbone_cfg.update(img_size=tuple(fix['img_size']), out_type='raw',
                        with_fusion=False)
    backbone = SEG_MODELS.build(backbone_cfg)
    missing, unexpected = backbone.load_state_dict(
        {k: v for k, v in state.items() if not k.startswith('fusion.')},
        strict=False)
    assert not missing and not unexpected
    head = HypercolumnUnpoolHead(in_channels=48, num_classes=3,
                                 fusion=dict(num_levels=4))
    head.fusion.load_state_dict({
        k[len('fusion.'):]: v
        for k, v in state.items() if k.startswith('fusion.')
    })
    backbone.eval(), head.eval()
    with torch.no_grad():
        out = backbone(fix['image_normalized'], fix['superpixels'])
        tokens = head.superpixel_features(out)
    ref = fix['outputs']['tokens'][:, 1:]
    assert (tokens - ref).abs().max() <= ATOL
