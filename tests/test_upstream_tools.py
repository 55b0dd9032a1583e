# Copyright (c) mmcast contributors. All rights reserved.
"""MMSegmentation's and MMPretrain's own tools, unchanged, on CAST configs.

The tools are the installed packages' copies (``tests/upstream_tools.py``
says how they are found).  The fast tests run them on the real configs with
a tiny backbone on small data in the real layouts; the slow ones run the
README's ``get_flops`` commands at full size.
"""
import glob
import json
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.conftest import ROOT, load_tool
from tests.test_seg_e2e import make_ade20k, shrink
from tests.upstream_tools import run_tool, stock_config

ADE = osp.join(ROOT, 'configs', 'cast_s_ade20k.py')
IN1K = osp.join(ROOT, 'configs', 'cast_s_in1k_deit.py')
TINY = {
    'model.backbone.arch.embed_dims': 32,
    'model.backbone.arch.depths': [1, 1, 1, 1],
    'model.backbone.arch.num_heads': 2,
    'model.backbone.pool_num_heads': 2,
}
#: mmseg 1.2.2's get_flops passes both ``input_shape`` and ``inputs`` to
#: mmengine's ``get_model_complexity_info``, which mmengine >= 0.7.3 refuses
#: for every config (open-mmlab/mmsegmentation#3241); the upstream fix,
#: open-mmlab/mmsegmentation#3551 (merged after 1.2.2), drops the shape.
GET_FLOPS_BUG = '"input_shape" and "inputs" cannot be both set.'
GET_FLOPS_CALL = ('        model,\n        input_shape,\n'
                  "        inputs=data['inputs'],")
GET_FLOPS_FIXED = GET_FLOPS_CALL.replace('input_shape,', 'None,')
#: open-mmlab/mmsegmentation#3405, see tests/upstream_fixes.py.
BROWSE_BUG = 'Layout of the output array img is incompatible with cv::Mat'
SEGFORMER = stock_config(
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py')


def flops(text):
    """The ``Flops: 1.23G`` figure of a get_flops run, in GFLOPs."""
    found = re.findall(r'Flops: ([0-9.]+)([KMGT]?)', text)
    assert found, text[-3000:]
    value, unit = found[-1]
    return float(value) * {'K': 1e-6, 'M': 1e-3, 'G': 1., 'T': 1e3,
                           '': 1e-9}[unit]


def dump(cfg, path):
    cfg.dump(str(path))
    return str(path)


def tiny_ade_config(tmp_path, n_val=2):
    """configs/cast_s_ade20k.py with a tiny CAST, small images and data in
    ADE20K's layout."""
    root = make_ade20k(str(tmp_path / 'ADEChallengeData2016'), n_train=4,
                       n_val=n_val)
    cfg = Config.fromfile(ADE)
    cfg.model.backbone.arch = {}  # 'small' -> a dict
    options = dict(o.split('=', 1) for o in shrink())
    cfg.merge_from_dict({k: eval(v) for k, v in options.items()})
    cfg.merge_from_dict(dict(TINY, **{
        'model.backbone.num_clusters': [16, 8, 4, 2],
        'model.decode_head.in_channels': 32,
        'model.decode_head.num_heads': 2,
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
    }))
    return dump(cfg, tmp_path / 'tiny_cast_ade20k.py')


def tiny_in1k_config(tmp_path):
    cfg = Config.fromfile(IN1K)
    cfg.merge_from_dict(dict(TINY, **{'model.head.in_channels': 32}))
    return dump(cfg, tmp_path / 'tiny_cast_in1k.py')


def mmseg_get_flops(config, shape, tmp_path, compare_stock=False):
    """mmseg's get_flops; when it fails with the upstream bug (after the
    CAST preprocessor has run), it is run again with the upstream fix
    applied to a copy, nothing else changed.  ``compare_stock`` checks
    that mmseg's own SegFormer config fails the same way."""
    res = run_tool('mmseg', 'analysis_tools/get_flops.py',
                   [config, '--shape', *shape], check=False)
    if res.returncode == 0:
        return res.output
    assert GET_FLOPS_BUG in res.output, res.output[-4000:]
    # The CAST preprocessor went through: the failure is mmengine's check.
    assert 'get_model_complexity_info' in res.output
    if compare_stock:
        stock = run_tool('mmseg', 'analysis_tools/get_flops.py',
                         [SEGFORMER, '--shape', *shape], check=False)
        assert stock.returncode and GET_FLOPS_BUG in stock.output
    from tests.upstream_tools import tools_dir
    source = open(osp.join(tools_dir('mmseg'), 'analysis_tools',
                           'get_flops.py')).read()
    assert source.count(GET_FLOPS_CALL) == 1, 'get_flops.py changed upstream'
    fixed = tmp_path / 'get_flops_pr3551.py'
    fixed.write_text(source.replace(GET_FLOPS_CALL, GET_FLOPS_FIXED))
    return run_tool('mmseg', str(fixed), [config, '--shape', *shape]).output


def test_mmseg_get_flops(tmp_path):
    config = tiny_ade_config(tmp_path)
    out = mmseg_get_flops(config, ('64', '64'), tmp_path)
    assert 'Input shape: (64, 64)' in out
    assert 0 < flops(out) < 1


def test_mmpretrain_get_flops_counts_the_backbone(tmp_path):
    from mmengine.analysis import FlopAnalyzer
    from mmpretrain.registry import MODELS

    from mmcast.models.utils import grid_superpixels
    config = tiny_in1k_config(tmp_path)
    out = run_tool('mmpretrain', 'analysis_tools/get_flops.py',
                   [config, '--shape', '64', '64']).output
    assert 'Input shape: (3, 64, 64)' in out
    # The same backbone counted here on 16 superpixels (SEEDS gives the
    # tool's random image 64*64/16^2 = 16 of them).
    backbone = MODELS.build(Config.fromfile(config).model.backbone).eval()
    sp = grid_superpixels(64, 64, 16)[None]
    analyzer = FlopAnalyzer(backbone, (torch.randn(1, 3, 64, 64), sp))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    expected = analyzer.total() / 1e9
    assert flops(out) == pytest.approx(expected, rel=0.01)


@pytest.mark.slow
def test_mmseg_benchmark(tmp_path):
    config = tiny_ade_config(tmp_path, n_val=8)
    work_dir = tmp_path / 'bench'
    out = run_tool('mmseg', 'analysis_tools/benchmark.py',
                   [config, str(tmp_path / 'no_checkpoint.pth'),
                    '--log-interval', '2', '--work-dir', work_dir]).output
    # 5 warm-up images, then fps at images 6 and 8.
    fps = [float(v) for v in re.findall(r'fps: ([0-9.]+) img / s', out)]
    assert len(fps) == 2 and all(v > 0 for v in fps), out[-3000:]
    dumped = glob.glob(str(work_dir / 'fps_*.json'))
    assert len(dumped) == 1
    assert json.load(open(dumped[0]))['config'] == config


def mmseg_browse_dataset(config, out_dir, compare_stock_root=None):
    """mmseg's browse_dataset; when it fails with mmseg#3405 (drawing the
    label boxes, for any dataset with OpenCV >= 4.8), it is run again,
    unchanged, with that library bug worked around in its process.
    ``compare_stock_root`` checks that mmseg's SegFormer config fails the
    same way on the same data."""
    args = ['--output-dir', out_dir, '--not-show', '--show-interval', '0']
    res = run_tool('mmseg', 'analysis_tools/browse_dataset.py',
                   [config, *args], check=False)
    if res.returncode == 0:
        return
    assert BROWSE_BUG in res.output and '_draw_sem_seg' in res.output, \
        res.output[-4000:]
    if compare_stock_root:
        stock = run_tool('mmseg', 'analysis_tools/browse_dataset.py', [
            SEGFORMER, *args, '--cfg-options',
            f'train_dataloader.dataset.data_root={compare_stock_root}'
        ], check=False)
        assert stock.returncode and BROWSE_BUG in stock.output
    run_tool('mmseg', 'analysis_tools/browse_dataset.py', [config, *args],
             with_library_fixes=True)


@pytest.mark.slow
def test_mmseg_browse_dataset(tmp_path):
    import cv2
    config = tiny_ade_config(tmp_path)
    mmseg_browse_dataset(config, tmp_path / 'browse')
    shown = sorted(glob.glob(str(tmp_path / 'browse' / '*.jpg')))
    assert len(shown) == 4  # one per training image
    img = cv2.imread(shown[0])
    # The augmented crop, in colour: at most 96 x 96 (the random resize,
    # ratio 0.5 to 2 of 160 x 96, may leave the image smaller than the
    # crop, which then takes all of it), never the 120 x 160 original.
    h, w, channels = img.shape
    assert h <= 96 and w <= 96 and channels == 3, img.shape
    assert img.std() > 10


def test_mmseg_inferencer_from_a_cast_config(tmp_path):
    from mmseg.apis import MMSegInferencer

    from tests.pretrain_utils import photos
    img = np.ascontiguousarray(photos()[1][:120, :160])
    seg = MMSegInferencer(model=tiny_ade_config(tmp_path), device='cpu')
    pred = seg(img, return_datasamples=True)
    assert pred.pred_sem_seg.shape == (120, 160)
    assert 0 <= int(pred.pred_sem_seg.data.min()) and \
        int(pred.pred_sem_seg.data.max()) < 150


def test_mmpretrain_inferencers_from_a_cast_config(tmp_path):
    from mmengine.registry import DefaultScope
    from mmpretrain import FeatureExtractor, ImageClassificationInferencer

    from tests.pretrain_utils import photos
    img = np.ascontiguousarray(photos()[1][:120, :160])
    config = tiny_in1k_config(tmp_path)
    # MMSegInferencer (another test of this process) makes 'mmseg' the
    # process-wide default scope, which the mmpretrain inferencers' pipeline
    # building would follow; a fresh process has none.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        cls = ImageClassificationInferencer(config, pretrained=False,
                                            device='cpu')
        result = cls(img)[0]
        extractor = FeatureExtractor(config, pretrained=False, device='cpu')
        feats = extractor([img, img[:, ::-1].copy()])
    assert result['pred_scores'].shape == (1000, )
    assert 0 <= result['pred_label'] < 1000
    assert len(feats) == 2 and feats[0][0].shape == (32, )
    assert not torch.allclose(feats[0][0], feats[1][0])


@pytest.mark.slow
def test_mmseg_train_test_tta_and_confusion_matrix(tmp_path):
    """mmseg's train.py, test.py (--out, --tta) and confusion_matrix.py on
    the toy config (5 classes: the tool draws a 2 x num_classes inch
    figure at 300 dpi, which for ADE20K's 150 classes is 26 GB)."""
    from mmcast.datasets import generate_toy_scenes
    from tests.test_seg_e2e import miou, toy_options
    root = generate_toy_scenes(str(tmp_path / 'toy'), 4, 3, 64)
    config = osp.join(ROOT, 'configs', 'cast_toy_scenes.py')
    options = toy_options(root)
    work_dir, preds = tmp_path / 'wd', tmp_path / 'preds'
    run_tool('mmseg', 'train.py', [config, '--work-dir', work_dir,
                                   '--cfg-options', *options])
    ckpt = work_dir / 'iter_2.pth'
    assert ckpt.exists()
    for extra in (['--out', preds], ['--tta']):
        out = run_tool('mmseg', 'test.py', [
            config, ckpt, '--work-dir', work_dir, *extra, '--cfg-options',
            *options]).output
        assert 0 <= miou(out) <= 100
    assert len(glob.glob(str(preds / '*.png'))) == 3
    run_tool('mmseg', 'analysis_tools/confusion_matrix.py',
             [config, preds, tmp_path / 'cm', '--cfg-options', *options])
    assert osp.getsize(tmp_path / 'cm' / 'confusion_matrix.png') > 0


@pytest.mark.slow
def test_readme_get_flops_commands(tmp_path):
    """The README's commands at full size: CAST-S on 512 x 512 (mmseg) and
    on 224 x 224 (mmpretrain), the latter equal to the backbone benchmark's
    count without attention matrices (which mmengine does not count)."""
    out = mmseg_get_flops(ADE, ('512', '512'), tmp_path, compare_stock=True)
    assert 'Input shape: (512, 512)' in out
    assert 15 < flops(out) < 40
    out = run_tool('mmpretrain', 'analysis_tools/get_flops.py',
                   [IN1K, '--shape', '224', '224']).output
    assert 'Input shape: (3, 224, 224)' in out
    bench = load_tool('tools/analysis_tools/benchmark_backbone.py')
    from mmengine.analysis import FlopAnalyzer

    from mmcast.models import CAST
    cast = CAST(arch='small', img_size=224, pos_embed='learned',
                token_pooling='stem', freeze_last_pool=True).eval()
    img, sp = bench.photo_batch(1, 224)
    with torch.no_grad():
        with_attention = bench.gflops(cast, (img, sp))
        analyzer = FlopAnalyzer(cast, (img, sp))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        without_attention = analyzer.total() / 1e9
    assert flops(out) == pytest.approx(without_attention, rel=0.01)
    assert flops(out) == pytest.approx(with_attention, rel=0.06)
