# Copyright (c) mmcast contributors. All rights reserved.
"""A released CAST Segmenter (encoder + mask-transformer decoder) converts
into an mmseg segmentor that gives the release's class scores, and
tools/test.py evaluates the converted files."""
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mmcast.models.utils.release_ckpt import convert_release_segmentor
from tests.conftest import ROOT, release_fixture_dir
from tests.eval_helpers import seg_test_config, tool_test_predictions
from tests.hierarchy_helpers import quiet_init_model

FIXTURE = osp.join(release_fixture_dir(), 'cast_release_segmenter_small.pt')
ATOL = 1e-4


@pytest.fixture(scope='module')
def fix():
    return torch.load(FIXTURE, map_location='cpu', weights_only=False)


def build_release_model(fix):
    from mmseg.registry import MODELS
    kwargs = fix['encoder_kwargs']
    state_dict, model_cfg = convert_release_segmentor(
        fix['checkpoint'], kwargs['num_heads'], kwargs['num_clusters'])
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(model_cfg)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), model_cfg


def release_masks(model, fix):
    """``encode_decode`` on what the data preprocessor produces: the
    normalised image with the superpixels as a fourth channel."""
    x = torch.cat([fix['image_normalized'],
                   fix['superpixels'][:, None].float()], dim=1)
    H, W = x.shape[-2:]
    metas = [dict(img_shape=(H, W), ori_shape=(H, W), pad_shape=(H, W))
             ] * x.shape[0]
    with torch.no_grad():
        return model.encode_decode(x, metas)


def test_converted_segmentor_gives_the_release_masks(fix):
    model, _ = build_release_model(fix)
    ours = release_masks(model, fix)
    ref = fix['outputs']['masks']
    assert ours.shape == ref.shape == (2, 7, 96, 96)
    err = (ours - ref).abs().max().item()
    assert err <= ATOL, f'max abs error {err:.2e}'


@pytest.mark.parametrize('name', [
    'decode_head.mask_decoder.mask_norm.bias',
    'decode_head.mask_decoder.patch_proj.weight',
    'decode_head.mask_decoder.layers.1.ffn.layers.1.weight',
    'backbone.fusion.proj.weight',
])
def test_parity_detects_a_wrong_weight(fix, name):
    """The comparison is sharp: one perturbed decoder or fusion tensor
    breaks it."""
    model, _ = build_release_model(fix)
    torch.manual_seed(0)
    with torch.no_grad():
        weight = model.state_dict()[name]
        weight.add_(0.05 * torch.randn_like(weight))
    err = (release_masks(model, fix) - fix['outputs']['masks']).abs().max()
    assert err > ATOL


def test_decoder_settings_are_read_from_the_weights(fix):
    _, cfg = build_release_model(fix)
    head = cfg['decode_head']
    assert head['type'] == 'HypercolumnUnpoolHead'
    assert head['decoder'] == 'mask_transformer'
    dec = fix['decoder_kwargs']
    assert head['num_classes'] == dec['n_cls'] == 7
    assert head['num_layers'] == dec['n_layers'] == 2
    assert head['embed_dims'] == dec['d_model'] == 96
    assert head['num_heads'] == dec['n_heads'] == 1
    assert head['mlp_ratio'] * head['embed_dims'] == dec['d_ff']
    backbone = cfg['backbone']
    assert backbone['with_fusion'] and backbone['token_pooling'] == 'full'
    assert backbone['img_size'] == 96
    assert backbone['num_clusters'] == [20, 10, 5, 3]


def test_only_segmenter_files_with_a_decoder(fix):
    deit_seg = torch.load(
        osp.join(release_fixture_dir(), 'cast_release_deit_seg_small.pt'),
        weights_only=False)['checkpoint']
    with pytest.raises(KeyError, match='no decoder'):
        convert_release_segmentor(deit_seg, 4, [20, 10, 5, 3])
    moco = torch.load(
        osp.join(release_fixture_dir(), 'cast_release_moco_cls_small.pt'),
        weights_only=False)['checkpoint']
    with pytest.raises(ValueError, match='Segmenter file'):
        convert_release_segmentor(moco, 4, [8, 4, 2, 1])


PIPELINE = '''[
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Superpixels', stride=16),
    dict(type='PackSegInputs'),
]'''


def test_cli_writes_a_segmentor_that_tools_test_evaluates(fix, tmp_path):
    """cast2mmcast.py writes checkpoint and config; tools/test.py runs on
    them and scores exactly what the converted model predicts."""
    from mmcast.apis import inference_model
    src = tmp_path / 'segmenter.pth'
    torch.save(fix['checkpoint'], src)
    # The fixture's photo as a one-image test set.
    root = tmp_path / 'data'
    (root / 'img').mkdir(parents=True)
    (root / 'ann').mkdir()
    img_path = str(root / 'img' / 'a.png')
    cv2.imwrite(img_path, fix['image_uint8'][0].numpy()[..., ::-1])
    base = seg_test_config(str(tmp_path / 'data_cfg.py'), None, str(root),
                           7, PIPELINE)
    dst = tmp_path / 'converted.pth'
    kwargs = fix['encoder_kwargs']
    res = subprocess.run(
        [sys.executable, 'tools/model_converters/cast2mmcast.py', str(src),
         str(dst), '--config', base, '--num-heads',
         str(kwargs['num_heads']), '--num-clusters'] +
        [str(k) for k in kwargs['num_clusters']],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'segmenter format' in res.stdout
    assert '7 classes, 2 layers, width 96' in res.stdout
    config = str(tmp_path / 'converted.py')
    assert osp.isfile(config) and config in res.stdout
    # The converted model's own prediction is the ground truth: the
    # evaluation must then find every pixel right.
    model = quiet_init_model(config, str(dst))
    pred = inference_model(model, img_path)
    cv2.imwrite(str(root / 'ann' / 'a.png'),
                pred.pred_sem_seg.data[0].numpy().astype(np.uint8))
    dumped = tool_test_predictions(config, str(dst), str(tmp_path / 'run'))
    torch.testing.assert_close(dumped[0]['seg_logits']['data'],
                               pred.seg_logits.data, atol=1e-5, rtol=0)
    log = open(max((tmp_path / 'run').rglob('*.log'))).read()
    assert float(re.findall(r'mIoU: ([0-9.]+)', log)[-1]) == 100.0
