# Copyright (c) mmcast contributors. All rights reserved.
"""The inference API predicts what tools/test.py evaluates, on the same
image, for a segmentor and a classifier; tools/test.py reads checkpoints
from URLs."""
import functools
import http.server
import threading

import numpy as np
import pytest
import skimage.data
import torch

from mmcast.apis import inference_hierarchy, inference_model
from tests.eval_helpers import (cls_test_config, seg_test_config,
                                segmentation_labels, tool_test_predictions,
                                write_image)
from tests.hierarchy_helpers import (CLS_CFG, SEG_CFG, quiet_init_model,
                                     save_tiny_checkpoint)

SEG_PIPELINE = '''[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='Superpixels'),
    dict(type='PackSegInputs'),
]'''


@pytest.fixture(scope='module')
def seg_setup(tmp_path_factory):
    """A tiny segmentor's checkpoint and a one-image test set (a 300x451
    photo: the pipeline resizes it)."""
    tmp = tmp_path_factory.mktemp('seg')
    img = skimage.data.chelsea()[..., ::-1]
    img_path = write_image(str(tmp / 'data' / 'img' / 'cat.png'), img)
    segmentation_labels(str(tmp / 'data' / 'ann' / 'cat.png'),
                        img.shape[:2], 4)
    config = seg_test_config(str(tmp / 'seg_test.py'), SEG_CFG,
                             str(tmp / 'data'), 4, SEG_PIPELINE)
    ckpt = str(tmp / 'seg.pth')
    save_tiny_checkpoint(ckpt, SEG_CFG)
    return config, ckpt, img_path, tmp


@pytest.fixture(scope='module')
def cls_setup(tmp_path_factory):
    """A tiny classifier's checkpoint and a one-image test set; its test
    pipeline resizes the short edge to 96 and crops the centre."""
    tmp = tmp_path_factory.mktemp('cls')
    img = skimage.data.chelsea()[..., ::-1]  # 300x451: the crop matters
    img_path = write_image(str(tmp / 'data' / 'c0' / 'cat.png'), img)
    config = cls_test_config(str(tmp / 'cls_test.py'), CLS_CFG,
                             str(tmp / 'data'))
    ckpt = str(tmp / 'cls.pth')
    save_tiny_checkpoint(ckpt, CLS_CFG, favour=None)
    return config, ckpt, img_path, tmp


def test_segmentor_prediction_equals_tools_test(seg_setup):
    config, ckpt, img_path, tmp = seg_setup
    dumped = tool_test_predictions(config, ckpt, str(tmp / 'run'))
    assert len(dumped) == 1
    model = quiet_init_model(config, ckpt)
    ours = inference_model(model, img_path)
    theirs = dumped[0]
    assert ours.seg_logits.data.shape == (4, 300, 451)
    torch.testing.assert_close(ours.seg_logits.data,
                               theirs['seg_logits']['data'], atol=1e-5,
                               rtol=0)
    assert torch.equal(ours.pred_sem_seg.data,
                       theirs['pred_sem_seg']['data'])
    # An array of the same image gives the same prediction.
    array = skimage.data.chelsea()
    again = inference_model(model, array, channel_order='rgb')
    assert torch.equal(again.pred_sem_seg.data, ours.pred_sem_seg.data)
    # A list gives a list.
    assert len(inference_model(model, [img_path, array])) == 2


def test_classifier_scores_equal_tools_test(cls_setup):
    config, ckpt, img_path, tmp = cls_setup
    dumped = tool_test_predictions(config, ckpt, str(tmp / 'run'))
    expected = dumped[0]['pred_score']
    model = quiet_init_model(config, ckpt)
    ours = inference_model(model, img_path)
    torch.testing.assert_close(ours.pred_score, expected, atol=1e-6, rtol=0)
    # inference_hierarchy reports the same scores (from the centre crop
    # evaluation uses) while its levels cover the whole image.
    result = inference_hierarchy(model, img_path)
    np.testing.assert_allclose(result.scores, expected.double().numpy(),
                               atol=1e-6)
    assert result.levels[0].shape == (300, 451)
    assert result.input_shape == (96, 144)  # resized, not cropped
    # The crop changes the scores: the whole image would give others.
    whole = quiet_init_model(config, ckpt, cfg_options={
        'test_pipeline': [t for t in model.cfg.test_pipeline
                          if t['type'] != 'CenterCrop']})
    assert not torch.allclose(inference_model(whole, img_path).pred_score,
                              expected, atol=1e-4)


def test_classifier_without_crop_scores_in_the_same_pass(cls_setup):
    config, ckpt, img_path, _ = cls_setup
    model = quiet_init_model(config, ckpt, cfg_options={
        'test_pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=96, edge='short'),
            dict(type='Superpixels', preset='classification'),
            dict(type='PackInputs')]})
    calls = []
    forward = model.backbone.forward
    model.backbone.forward = lambda *a, **k: calls.append(1) or forward(
        *a, **k)
    result = inference_hierarchy(model, img_path)
    assert len(calls) == 1
    model.backbone.forward = forward
    expected = inference_model(model, img_path).pred_score.double().numpy()
    np.testing.assert_allclose(result.scores, expected, atol=1e-6)


def test_tools_test_loads_a_checkpoint_from_a_url(seg_setup, monkeypatch):
    """An http:// checkpoint (served here) is loaded by mmengine, not
    refused as a missing file."""
    config, ckpt, _, tmp = seg_setup
    monkeypatch.setenv('TORCH_HOME', str(tmp / 'torch_home'))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/seg.pth'
        dumped = tool_test_predictions(config, url, str(tmp / 'url'))
    finally:
        server.shutdown()
    local = tool_test_predictions(config, ckpt, str(tmp / 'local'))
    torch.testing.assert_close(dumped[0]['seg_logits']['data'],
                               local[0]['seg_logits']['data'])
    assert (tmp / 'torch_home' / 'hub' / 'checkpoints' / 'seg.pth').exists()
