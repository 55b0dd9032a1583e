# Copyright (c) mmcast contributors. All rights reserved.
import subprocess
import sys

import pytest
import torch

from mmcast.models.utils.release_ckpt import convert_release_state_dict
from tests.conftest import ROOT, load_tool

FIX = ROOT + '/tests/data/release/cast_release_{}_small.pt'


def load(variant):
    return torch.load(FIX.format(variant), weights_only=False)


def test_moco_file_drops_momentum_predictor_and_fixed_tables():
    fix = load('moco_cls')
    sd, meta = convert_release_state_dict(fix['checkpoint'])
    assert meta['format'] == 'moco' and meta['pos_embed'] == 'sincos'
    assert not any('momentum' in k or 'predictor' in k for k in sd)
    assert 'pos_embed' not in sd and 'pe_token' not in sd
    assert meta['depths'] == [2, 1, 1, 1] and meta['embed_dims'] == 48
    # The duplicated block keys resolve to the same tensors.
    src = fix['checkpoint']['state_dict']
    torch.testing.assert_close(
        sd['stages.1.blocks.0.attn.qkv.weight'],
        src['module.base_encoder.blocks.2.attn.qkv.weight'])
    torch.testing.assert_close(
        sd['stages.1.blocks.0.attn.qkv.weight'],
        src['module.base_encoder.blocks2.2.attn.qkv.weight'])
    assert meta['head']['weight'].shape == (32, 48)


def test_segmenter_file_keeps_fusion_and_learned_table():
    sd, meta = convert_release_state_dict(load('deit_seg')['checkpoint'])
    assert meta['format'] == 'segmenter' and meta['with_fusion']
    assert sd['pos_embed'].shape == (1, 1 + 12 * 12, 48)
    assert meta['img_size'] == 96
    assert sd['fusion.norm.running_var'].shape == (4 * 48, )
    assert sd['stem.4.weight'].shape == (48, 48, 1, 1)
    assert sd['stem.3.bn.running_mean'].shape == (48, )


def test_not_a_release_file():
    with pytest.raises(ValueError, match='not a CAST release checkpoint'):
        convert_release_state_dict({'optimizer': {}})


def test_cli_writes_a_whole_model_checkpoint(tmp_path):
    src = tmp_path / 'moco.pth'
    torch.save(load('moco_cls')['checkpoint'], src)
    dst = tmp_path / 'out.pth'
    res = subprocess.run([
        sys.executable, 'tools/model_converters/cast2mmcast.py',
        str(src), str(dst), '--prefix', 'backbone.', '--head-prefix',
        'head.fc.'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'moco format' in res.stdout and 'pos_embed=sincos' in res.stdout
    out = torch.load(dst, weights_only=False)['state_dict']
    assert out['head.fc.weight'].shape == (32, 48)
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in out)


def test_head_prefix_without_head_is_an_error(tmp_path):
    conv = load_tool('tools/model_converters/cast2mmcast.py')
    src = tmp_path / 'deit.pth'
    torch.save(load('deit_cls')['checkpoint'], src)
    with pytest.raises(KeyError, match='no linear head'):
        conv.convert(str(src), str(tmp_path / 'x.pth'), head_prefix='head.')
    with pytest.raises(FileNotFoundError):
        conv.convert(str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth'))
