# Copyright (c) mmcast contributors. All rights reserved.
"""torch.export (and ONNX from it) of the CAST backbone at a fixed input
size and superpixel count: outputs equal to eager, what cannot be exported
said by name, and tools/deployment/export.py."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmcast.deployment import (export_backbone, export_inputs, export_onnx,
                               max_abs_difference)
from mmcast.models import CAST
from tests.conftest import ROOT

TINY = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2)
ATOL = 1e-4


def tiny(**kwargs):
    torch.manual_seed(0)
    model = CAST(arch=TINY, img_size=64, num_clusters=[8, 4, 2, 1],
                 pool_num_heads=2, **kwargs)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('out_type', [
    pytest.param('cls_token', marks=pytest.mark.slow), 'raw',
    pytest.param('featmap', marks=pytest.mark.slow)
])
def test_exported_backbone_equals_eager(out_type):
    model = tiny(out_type=out_type, pos_embed='learned')
    img, grid = export_inputs((64, 48), stride=16, batch_size=2)
    assert int(grid.max()) + 1 == 12  # 4 x 3 patches
    program = export_backbone(model, img, grid)
    new_img, _ = export_inputs((64, 48), stride=16, batch_size=2, seed=1)
    # Not specialised to the example's labels: a shuffled labelling of the
    # same 12 superpixels, different in each image, also matches.
    shuffled = torch.stack([torch.randperm(12)[grid[0]] for _ in range(2)])
    for sp in (grid, shuffled):
        assert max_abs_difference(program, model, new_img, sp) <= ATOL
    # A map with 12 superpixels that are not patches (horizontal bands).
    bands = (torch.arange(64) * 12 // 64)[:, None].expand(64, 48)
    bands = bands.expand(2, -1, -1).contiguous()
    assert max_abs_difference(program, model, new_img, bands) <= ATOL


def test_the_count_contract_is_checked():
    model = tiny()
    img, grid = export_inputs((32, 32), stride=16)
    with pytest.raises(ValueError, match='every id present'):
        export_backbone(model, img, grid * 2)  # ids 0, 2, 4, 6
    with pytest.raises(ValueError, match='integer'):
        export_backbone(model, img, grid.float())


@pytest.mark.parametrize('kwargs,where', [
    (dict(token_pooling='full'), 'superpixel_ops.py'),
    (dict(with_fusion=True, out_type='raw'), 'hypercolumn.py'),
])
def test_what_cannot_be_exported_is_named(kwargs, where):
    img, grid = export_inputs((32, 32), stride=16)
    with pytest.raises(RuntimeError) as e:
        export_backbone(tiny(**kwargs), img, grid)
    msg = str(e.value)
    assert msg.startswith('torch.export cannot trace CAST(')
    assert f'mmcast/models/utils/{where}:' in msg and '\n' not in msg


@pytest.mark.slow
def test_onnx_from_the_exported_program(tmp_path):
    pytest.importorskip('onnxscript')
    onnx = pytest.importorskip('onnx')
    from onnx.reference import ReferenceEvaluator
    model = tiny()
    img, grid = export_inputs((64, 48), stride=16)
    path = export_onnx(export_backbone(model, img, grid),
                       str(tmp_path / 'cast.onnx'))
    proto = onnx.load(path)
    new_img, _ = export_inputs((64, 48), stride=16, seed=1)
    got, = ReferenceEvaluator(proto).run(
        None, dict(zip([i.name for i in proto.graph.input],
                       [new_img.numpy(), grid.numpy()])))
    with torch.no_grad():
        expected = model(new_img, grid)[0].numpy()
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


def run_export_tool(config, out_dir, *extra):
    res = subprocess.run(
        [sys.executable, 'tools/deployment/export.py', config, '--out-dir',
         str(out_dir), *extra], cwd=ROOT, capture_output=True, text=True,
        env=dict(__import__('os').environ, PYTHONPATH=ROOT,
                 OMP_NUM_THREADS='1'), timeout=1800)
    # onnxscript repeats one warning per empty attribute: drop it so that a
    # failure shows the tool's own last lines
    out = '\n'.join(line for line in (res.stdout + res.stderr).splitlines()
                    if 'Attribute type is ambiguous' not in line)
    return res.returncode, out


@pytest.mark.slow
def test_export_tool(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cast_s_in1k_deit.py'))
    cfg.model.backbone.arch = TINY
    cfg.model.backbone.pool_num_heads = 2
    cfg.model.head.in_channels = 32
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    args = ['--shape', '64', '48', '--batch', '2']
    if sys.modules.get('onnxscript') or _importable('onnxscript'):
        args.append('--onnx')
    rc, out = run_export_tool(config, tmp_path / 'out', *args)
    assert rc == 0, out[-3000:]
    summary = json.load(open(tmp_path / 'out' / 'export.json'))
    assert summary['num_superpixels'] == 12
    diffs = summary['max_abs_difference']
    assert len(diffs) == (4 if '--onnx' in args else 2)
    assert max(diffs.values()) <= ATOL
    assert osp.getsize(tmp_path / 'out' / 'cast_backbone.pt2') > 0
    # A segmentation config: stops with the reason, exit status 1.
    seg = Config.fromfile(osp.join(ROOT, 'configs', 'cast_s_ade20k.py'))
    seg.model.backbone.arch = TINY
    seg.model.backbone.pool_num_heads = 2
    seg.model.decode_head.in_channels = 32
    seg.model.decode_head.num_heads = 2
    seg.dump(str(tmp_path / 'seg.py'))
    rc, out = run_export_tool(str(tmp_path / 'seg.py'), tmp_path / 'seg',
                              '--shape', '32', '32')
    assert rc == 1 and "token_pooling='full'" in out, out[-3000:]


def _importable(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


@pytest.mark.slow
def test_export_tool_on_cast_s(tmp_path):
    """CAST-S of the DeiT config at 224 x 224, 196 superpixels."""
    args = ['--onnx'] if _importable('onnxscript') and \
        _importable('onnxruntime') else []
    rc, out = run_export_tool(
        osp.join(ROOT, 'configs', 'cast_s_in1k_deit.py'), tmp_path, *args)
    assert rc == 0, out[-3000:]
    summary = json.load(open(tmp_path / 'export.json'))
    assert summary['num_superpixels'] == 196
    assert max(summary['max_abs_difference'].values()) <= ATOL
