# Copyright (c) mmcast contributors. All rights reserved.
"""Plugin set-up: scopes, custom_imports, version checks, the cv2 error."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmcast
from tests.conftest import ROOT

TINY = dict(embed_dims=32, depths=[1, 1], num_heads=2)


def tiny_backbone(**kwargs):
    return dict(type='CAST', arch=TINY, img_size=32, num_clusters=[4, 2],
                pool_num_heads=2, **kwargs)


def _inputs(B=2, size=32, cells=4):
    torch.manual_seed(0)
    img = torch.randn(1, 3, size, size).expand(B, -1, -1, -1).clone()
    step = size // cells
    ids = torch.arange(cells * cells).view(cells, cells)
    sp = ids.repeat_interleave(step, 0).repeat_interleave(step, 1)
    return img, sp.expand(B, -1, -1).clone()


@pytest.mark.parametrize('scope', ['mmseg', 'mmpretrain'])
def test_build_backbone_through_scope(scope):
    from mmengine.registry import MODELS as ROOT_MODELS
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(tiny_backbone())
        assert type(model).__name__ == 'CAST'
        pool = MODELS.build(dict(type='GraphPool', embed_dims=32,
                                 num_clusters=3, num_heads=2))
    # The root registry alone does not know CAST: the scopes do.
    assert ROOT_MODELS.get('CAST') is None
    img, sp = _inputs()
    feat, = model.eval()(img, sp)
    assert feat.shape == (2, 32) and torch.isfinite(feat).all()
    # The two images are identical, so are their features.
    torch.testing.assert_close(feat[0], feat[1])
    out = pool(torch.randn(2, 10, 32))
    assert out['tokens'].shape == (2, 3, 32)


def test_segmentor_from_mmseg_config_with_custom_imports(tmp_path):
    cfg = Config(
        dict(
            default_scope='mmseg',
            custom_imports=dict(imports=['mmcast'],
                                allow_failed_imports=False),
            model=dict(
                type='EncoderDecoder',
                data_preprocessor=dict(
                    type='CASTSegDataPreProcessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True),
                backbone=tiny_backbone(out_type='featmap'),
                decode_head=dict(
                    type='FCNHead', in_channels=32, in_index=-1, channels=8,
                    num_convs=1, num_classes=3),
                test_cfg=dict(mode='whole'))))
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.default_scope)
    from mmseg.registry import MODELS
    segmentor = MODELS.build(cfg.model).eval()
    img, sp = _inputs(B=1)
    x = torch.cat([img.clamp(0, 1) * 255, sp[:, None].float()], dim=1)[0]
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_shape=(32, 32),
                                         ori_shape=(32, 32)))
    with torch.no_grad():
        pred = segmentor.test_step(dict(inputs=[x],
                                        data_samples=[sample]))[0]
    assert pred.pred_sem_seg.shape == (32, 32)
    assert pred.seg_logits.data.shape == (3, 32, 32)


def test_transform_through_both_scopes():
    from mmpretrain.registry import TRANSFORMS as PT
    from mmseg.registry import TRANSFORMS as ST
    for registry, scope in ((ST, 'mmseg'), (PT, 'mmpretrain')):
        with DefaultScope.overwrite_default_scope(scope):
            t = registry.build(dict(type='Superpixels', num_superpixels=16))
        img = np.zeros((32, 32, 3), np.uint8)
        img[:, 16:] = 255
        out = t(dict(img=img))
        assert out['img'].shape == (32, 32, 4)
        # No superpixel straddles the black/white edge.
        sp = out['superpixels']
        assert not set(np.unique(sp[:, :16])) & set(np.unique(sp[:, 16:]))


def test_version_check_message(monkeypatch):
    import mmseg
    monkeypatch.setattr(mmseg, '__version__', '0.30.0')
    with pytest.raises(ImportError) as e:
        mmcast._check_versions()
    msg = str(e.value)
    assert '\n' not in msg
    assert 'mmsegmentation==0.30.0' in msg and 'pip install' in msg


def test_missing_ximgproc_error_is_one_line_and_lazy():
    """Without cv2.ximgproc, mmcast imports and builds models; the first
    superpixel computation fails with one line naming the package."""
    code = '\n'.join([
        'import cv2',
        'del cv2.ximgproc',
        'import numpy as np, mmcast',
        'from mmseg.registry import MODELS, TRANSFORMS',
        "MODELS.build(dict(type='CAST', arch='small'))",
        "t = TRANSFORMS.build(dict(type='Superpixels'))",
        'try:',
        "    t(dict(img=np.zeros((16, 16, 3), np.uint8)))",
        'except ImportError as e:',
        '    print("ERR:" + str(e))',
    ])
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    line = [x for x in res.stdout.splitlines() if x.startswith('ERR:')]
    assert len(line) == 1, res.stdout
    assert 'opencv-contrib-python-headless' in line[0]
    assert 'ximgproc' in line[0]


def test_contrib_opencv_is_the_one_imported():
    import cv2
    assert hasattr(cv2, 'ximgproc'), cv2.__file__
    cv2.ximgproc.createSuperpixelSEEDS(8, 8, 3, 4, 1)
