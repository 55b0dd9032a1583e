# Copyright (c) mmcast contributors. All rights reserved.
"""CASTInferencer and tools/infer.py: a folder or arrays in, batched
predictions, hierarchies and their pictures out."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data
from mmengine.config import Config

from tests.conftest import ROOT
from tests.hierarchy_helpers import (CLS_CFG, SEG_CFG, nesting_violations,
                                     save_tiny_checkpoint)

NAMES = ('grey', 'photo', 'rgba')


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """Three images of different sizes and formats."""
    root = tmp_path_factory.mktemp('images')
    coffee = skimage.data.coffee()[..., ::-1]
    cv2.imwrite(str(root / 'photo.png'), cv2.resize(coffee, (120, 90)))
    cv2.imwrite(str(root / 'grey.png'),
                cv2.resize(skimage.data.camera(), (64, 64)))
    rgba = np.dstack([cv2.resize(coffee, (70, 50)),
                      np.full((50, 70), 200, np.uint8)])
    cv2.imwrite(str(root / 'rgba.png'), rgba)
    (root / 'notes.txt').write_text('not an image')
    return str(root)


@pytest.fixture(scope='module')
def seg_checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'seg.pth')
    save_tiny_checkpoint(path, SEG_CFG, classes=['a', 'b', 'c', 'd'])
    return path


def test_folder_in_batches_predictions_and_files(folder, seg_checkpoint,
                                                 tmp_path):
    from mmcast.apis import CASTInferencer
    inferencer = CASTInferencer(SEG_CFG, seg_checkpoint, show_progress=False)
    out_dir = str(tmp_path / 'out')
    batched = inferencer(folder, batch_size=2, out_dir=out_dir,
                         return_vis=True)
    single = inferencer(folder, batch_size=1)
    preds = batched['predictions']
    assert [p['name'] for p in preds] == list(NAMES)  # sorted, no .txt
    for pred, one, name in zip(preds, single['predictions'], NAMES):
        H, W = cv2.imread(osp.join(folder, f'{name}.png')).shape[:2]
        assert pred['sem_seg'].shape == (H, W)
        assert 0 <= pred['sem_seg'].min() and pred['sem_seg'].max() < 4
        # batching changes nothing
        np.testing.assert_array_equal(pred['sem_seg'], one['sem_seg'])
        levels = pred['hierarchy'].levels
        assert len(levels) == 5 and all(lv.shape == (H, W) for lv in levels)
        assert nesting_violations(levels) == []
        # written: pictures, label map, levels, summary
        vis = osp.join(out_dir, 'vis', f'{name}_%s.png')
        assert cv2.imread(vis % 'pred') is not None
        assert cv2.imread(vis % 'hierarchy') is not None
        saved = cv2.imread(osp.join(out_dir, 'pred', f'{name}_sem_seg.png'),
                           cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(saved, pred['sem_seg'])
        level = cv2.imread(osp.join(out_dir, 'pred', f'{name}_level_4.png'),
                           cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(level, levels[4])
        with open(osp.join(out_dir, 'pred', f'{name}.json')) as f:
            summary = json.load(f)
        assert summary['segments_per_level'] == [
            len(np.unique(lv)) for lv in levels]
    drawn = batched['visualization']
    assert len(drawn) == 3 and drawn[1]['prediction'].shape[2] == 3


def test_arrays_classifier_and_show(tmp_path, monkeypatch):
    from mmcast.apis import CASTInferencer
    ckpt = str(tmp_path / 'cls.pth')
    save_tiny_checkpoint(ckpt, CLS_CFG, classes=['ant', 'bee', 'cat', 'dog',
                                                 'eel'], favour=3)
    # the tiny test config's preprocessor cannot carry superpixels: the
    # CAST one can
    cfg = Config.fromfile(CLS_CFG)
    cfg.model.data_preprocessor.type = 'CASTClsDataPreProcessor'
    inferencer = CASTInferencer(cfg, ckpt, show_progress=False)
    shown = []
    monkeypatch.setattr(inferencer.visualizer, 'show',
                        lambda img, win_name='', wait_time=0:
                        shown.append(win_name))
    images = [skimage.data.chelsea()[::4, ::4, ::-1].copy(),
              skimage.data.camera()[::6, ::6].copy()]
    out = inferencer(images, batch_size=2, show=True,
                     out_dir=str(tmp_path / 'out'))
    preds = out['predictions']
    assert [p['name'] for p in preds] == ['image_00000', 'image_00001']
    for pred in preds:
        assert pred['pred_label'] == 3 and pred['pred_class'] == 'dog'
        assert pred['pred_score'].shape == (5, )
    assert shown == ['image_00000', 'image_00000 hierarchy',
                     'image_00001', 'image_00001 hierarchy']
    with open(tmp_path / 'out' / 'pred' / 'image_00001.json') as f:
        assert json.load(f)['pred_class'] == 'dog'
    samples = inferencer(images[:1], return_datasamples=True)['predictions']
    assert int(samples[0].pred_label) == 3
    assert samples[0].hierarchy.levels[0].shape == images[0].shape[:2]


def test_missing_inputs_are_one_line_errors(seg_checkpoint, tmp_path):
    from mmcast.apis import CASTInferencer
    inferencer = CASTInferencer(SEG_CFG, seg_checkpoint, show_progress=False)
    with pytest.raises(FileNotFoundError, match='no image file at'):
        inferencer(str(tmp_path / 'nope.jpg'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='no images in the folder'):
        inferencer(str(tmp_path / 'empty'))


def test_cli(folder, seg_checkpoint, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, 'tools/infer.py', folder, SEG_CFG, '--checkpoint',
         seg_checkpoint, '--out-dir', str(tmp_path / 'cli'),
         '--batch-size', '2', '--clusters', '8', '4', '3', '2'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ': ' in ln]
    assert [ln.split(':')[0] for ln in lines] == list(NAMES)
    for ln in lines:  # --clusters reached the hierarchy
        assert ln.rstrip().endswith(', 8, 4, 3, 2]'), ln
    for name in NAMES:
        assert osp.exists(tmp_path / 'cli' / 'vis' / f'{name}_hierarchy.png')
    assert 'INFO' not in proc.stdout  # quiet by default
