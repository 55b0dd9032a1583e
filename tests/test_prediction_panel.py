# Copyright (c) mmcast contributors. All rights reserved.
"""The prediction pictures: image beside prediction and ground truth,
titles, and a legend of the classes present (the quickstart's
prediction.png)."""
import os
import os.path as osp
import sys
from unittest import mock

import cv2
import numpy as np
import torch

from mmcast.visualization import classification_panel, segmentation_panel
from tests.conftest import ROOT, load_tool

PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]],
                   np.uint8)
CLASSES = ('red', 'green', 'blue', 'yellow')


def has_colour(region, colour):
    return bool((region.reshape(-1, 3) == colour).all(1).any())


def test_segmentation_panel_tiles_titles_and_legend():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    pred = np.zeros((20, 30), np.int64)
    pred[:, 15:] = 2
    gt = np.full((20, 30), 255, np.int64)
    gt[5:, :] = 1
    panel = segmentation_panel(image, pred, CLASSES, PALETTE, gt=gt,
                               min_height=60, gap=4)
    # 20 px -> enlarged 3x: three 90x60 tiles, 4 px apart
    assert panel.shape[1] == 3 * 90 + 2 * 4
    # the tiles start under the titles, where the prediction turns red
    top = np.where((panel[:, 94:184] == PALETTE[0]).all(-1).any(1))[0][0]
    assert 10 < top < 40 and (panel[top - 1, 94:184] != PALETTE[0]).any()
    image_tile = panel[top:top + 60, :90]
    np.testing.assert_array_equal(image_tile, cv2.resize(
        image, (90, 60), interpolation=cv2.INTER_NEAREST))
    pred_tile = panel[top:top + 60, 94:184]
    np.testing.assert_array_equal(pred_tile[:, :45],
                                  np.broadcast_to(PALETTE[0], (60, 45, 3)))
    np.testing.assert_array_equal(pred_tile[:, 45:],
                                  np.broadcast_to(PALETTE[2], (60, 45, 3)))
    gt_tile = panel[top:top + 60, 188:278]
    assert (gt_tile[:15] == 0).all()  # ignored: black
    np.testing.assert_array_equal(gt_tile[15:],
                                  np.broadcast_to(PALETTE[1], (45, 90, 3)))
    # The legend below lists red, green, blue (present), not yellow.
    legend = panel[top + 60:]
    assert legend.shape[0] > 10
    for c in (0, 1, 2):
        assert has_colour(legend, PALETTE[c]), CLASSES[c]
    assert not has_colour(legend, PALETTE[3])


def test_classification_panel_lists_the_best_classes():
    image = np.full((40, 40, 3), 128, np.uint8)
    panel = classification_panel(image, np.array([.1, .6, .05, .25]),
                                 CLASSES, topk=3, min_width=80)
    assert panel.shape[1] == 80
    np.testing.assert_array_equal(panel[:80], 128)  # the image, 2x
    strip = panel[80:]
    rows = np.where((strip < 128).any((1, 2)))[0]
    # three text lines
    assert len(np.split(rows, np.where(np.diff(rows) > 1)[0] + 1)) == 3


CONFIG = osp.join(ROOT, 'configs', 'cast_toy_scenes.py')


def box_checkpoint(tmp_path):
    """Toy data and a toy-config checkpoint that predicts 'box'
    everywhere."""
    from mmcast.datasets import generate_toy_scenes
    from tests.hierarchy_helpers import quiet_init_model
    root = generate_toy_scenes(str(tmp_path / 'toy'), 2, 2, 64)
    ckpt = str(tmp_path / 'toy.pth')
    model = quiet_init_model(CONFIG)
    with torch.no_grad():  # predict 'box' everywhere
        model.decode_head.conv_seg.weight.zero_()
        model.decode_head.conv_seg.bias.copy_(
            torch.tensor([0., 0., 0., 9., 0.]))
    meta = dict(dataset_meta=dict(
        classes=('sky', 'ground', 'disc', 'box', 'triangle'),
        palette=[[70, 130, 180], [120, 100, 60], [220, 40, 40],
                 [240, 200, 40], [150, 60, 200]]))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    return root, ckpt, meta


def test_quickstart_picture_has_image_prediction_and_legend(tmp_path):
    from mmcast.apis import load_config
    root, ckpt, meta = box_checkpoint(tmp_path)
    cfg = load_config(CONFIG, {
        f'{n}.dataset.data_root': root
        for n in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    }, str(tmp_path / 'wd'))
    with mock.patch.object(sys, 'argv', ['quickstart.py']):
        quickstart = load_tool('tools/quickstart.py')
    out = str(tmp_path / 'pictures')
    os.makedirs(out)
    pred_path, hier_path = quickstart.save_pictures(cfg, ckpt, out)
    picture = cv2.imread(pred_path)[..., ::-1]
    assert osp.exists(hier_path)
    # image | prediction | ground truth: 64 px enlarged to 384 (6x)
    assert picture.shape[1] == 3 * 384 + 2 * 4
    box = meta['dataset_meta']['palette'][3]
    middle = picture[:, 388 + 192]  # a column through the prediction
    rows = np.where((middle == box).all(-1))[0]
    assert len(rows) == 384 and rows[-1] - rows[0] == 383
    # under the tiles, the legend: the predicted class and the sky of the
    # ground truth, by colour
    legend = picture[rows[-1] + 1:]
    assert legend.shape[0] > 10
    assert has_colour(legend, box) and has_colour(legend, [70, 130, 180])


def test_quickstart_with_a_checkpoint_tests_and_draws(tmp_path, capsys):
    root, ckpt, _ = box_checkpoint(tmp_path)
    work = str(tmp_path / 'work')
    argv = ['quickstart.py', '--data-root', root, '--work-dir', work,
            '--checkpoint', ckpt]
    with mock.patch.object(sys, 'argv', argv):
        quickstart = load_tool('tools/quickstart.py')
        quickstart.main()
    out = capsys.readouterr().out
    assert f'quickstart: tested {ckpt}' in out and 'mIoU' in out
    assert not osp.exists(osp.join(work, 'iter_1200.pth'))  # no training
    for name in ('prediction.png', 'hierarchy.png'):
        assert cv2.imread(osp.join(work, name)) is not None
