# Copyright (c) mmcast contributors. All rights reserved.
"""mmcast.apis.init_model / inference_hierarchy on tiny CAST models."""
import mmcv
import numpy as np
import pytest
import skimage.data
import torch

from mmcast.apis import inference_hierarchy, init_model
from mmcast.apis.inference import preprocess
from mmcast.datasets.transforms.superpixel import compute_superpixels
from mmcast.models.segmentors.hierarchy_segmentor import \
    superpixel_representatives
from tests.hierarchy_helpers import (CLS_CFG, SEG_CFG, nesting_violations,
                                     quiet_init_model, save_tiny_checkpoint)


@pytest.fixture(scope='module')
def seg_model():
    torch.manual_seed(0)
    return quiet_init_model(SEG_CFG)


@pytest.fixture(scope='module')
def cls_model():
    torch.manual_seed(0)
    return quiet_init_model(CLS_CFG)


def random_images():
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 255, (6, 9, 3)), np.ones((25, 25, 1)))
    return [
        ('noise', rng.integers(0, 256, (97, 150, 3), dtype=np.uint8)),
        ('blocks', smooth.astype(np.uint8)),
        ('gray20', rng.integers(0, 256, (20, 20), dtype=np.uint8)),
        ('rgba', rng.integers(0, 256, (64, 48, 4), dtype=np.uint8)),
    ]


def photos():
    return [('coffee', skimage.data.coffee()),
            ('astronaut', skimage.data.astronaut()),
            ('chelsea', skimage.data.chelsea())]


def test_init_model_warns_about_random_weights():
    with pytest.warns(UserWarning, match='RANDOM weights'):
        model = init_model(SEG_CFG)
    assert not model.training
    assert model.backbone.out_type == 'featmap'
    assert model.cfg.default_scope == 'mmseg'


def test_init_model_leaves_the_callers_config_alone():
    from mmengine.config import Config
    cfg = Config.fromfile(CLS_CFG)
    before = cfg.to_dict()
    model = quiet_init_model(cfg)
    assert cfg.to_dict() == before
    assert model.cfg.model.backbone.init_cfg is None
    assert model.cfg.default_scope == 'mmpretrain'


@pytest.mark.parametrize('which', ['seg', 'cls'])
def test_nested_on_random_and_real_images(which, seg_model, cls_model):
    model = seg_model if which == 'seg' else cls_model
    for name, img in random_images() + photos():
        result = inference_hierarchy(model, img, channel_order='rgb')
        levels = result.levels
        assert len(levels) == model.backbone.num_stages + 1, name
        for lv in levels:
            assert lv.shape == img.shape[:2] and lv.dtype == np.int32
            assert lv.min() >= 0, name
        assert nesting_violations(levels) == [], name
        # Coarser and coarser: never more segments than the level below.
        counts = [len(np.unique(lv)) for lv in levels]
        assert counts == sorted(counts, reverse=True), (name, counts)
        assert counts[-1] <= result.num_clusters[-1]
        # The pixel maps are the per-superpixel chain painted through
        # the superpixels.
        for lab, lv in zip(result.superpixel_labels, levels):
            np.testing.assert_array_equal(lab[levels[0]], lv)


def test_level0_is_the_superpixels_of_the_resized_image(seg_model):
    img = skimage.data.coffee()  # (400, 600) RGB
    result = inference_hierarchy(seg_model, img, channel_order='rgb')
    # The pipeline: Resize(scale=(128, 128), keep_ratio=True), then
    # Superpixels() with the segmentation preset, H*W/16^2 superpixels.
    small = mmcv.imrescale(img[..., ::-1].copy(), (128, 128))
    assert result.input_shape == small.shape[:2] == (85, 128)
    expected = compute_superpixels(small, round(85 * 128 / 256))
    np.testing.assert_array_equal(result.superpixels, expected)
    rows = np.arange(400) * 85 // 400
    cols = np.arange(600) * 128 // 600
    np.testing.assert_array_equal(result.levels[0], expected[rows][:, cols])


def test_hierarchy_is_the_backbones_chain_and_clusters_override(seg_model):
    img = skimage.data.astronaut()
    clusters = [12, 6, 3, 2]
    result = inference_hierarchy(seg_model, img, num_clusters=clusters,
                                 channel_order='rgb', return_soft=True)
    # Each cluster keeps at least its own centroid: exactly K per level.
    assert [len(np.unique(lv)) for lv in result.levels[1:]] == clusters
    assert result.num_clusters == clusters
    # Recompute with the backbone itself.
    data, _ = preprocess(seg_model, mmcv.rgb2bgr(img))
    backbone = seg_model.backbone
    backbone.out_type = 'raw'
    try:
        with torch.no_grad():
            out = backbone(data['inputs'], num_clusters=clusters)
    finally:
        backbone.out_type = 'featmap'
    for ours, theirs in zip(result.superpixel_labels, out['hierarchy']):
        np.testing.assert_array_equal(ours, theirs[0].numpy())
    # Soft maps: S_1 = P_1, S_l = S_{l-1} P_l, rows are distributions.
    probs = [s['logits'][0].double().softmax(-1).numpy()
             for s in out['stages']]
    np.testing.assert_allclose(result.soft[0], probs[0], atol=1e-6)
    chained = probs[0]
    for soft, p in zip(result.soft[1:], probs[1:]):
        chained = chained @ p
        np.testing.assert_allclose(soft, chained, atol=1e-6)
    for soft, k in zip(result.soft, clusters):
        assert soft.shape == (result.superpixels.max() + 1, k)
        np.testing.assert_allclose(soft.sum(1), 1, atol=1e-5)
    # The first hard level is the argmax of the first soft map.
    np.testing.assert_array_equal(result.soft[0].argmax(1),
                                  result.superpixel_labels[1])


def test_bad_cluster_override(seg_model):
    with pytest.raises(ValueError, match='4 positive counts'):
        inference_hierarchy(seg_model, np.zeros((32, 32, 3), np.uint8),
                            num_clusters=[8, 4])


def test_out_type_and_mode_restored(seg_model, cls_model):
    cls_model.train()
    try:
        inference_hierarchy(cls_model, skimage.data.chelsea())
        assert cls_model.training
    finally:
        cls_model.eval()
    assert cls_model.backbone.out_type == 'cls_token'
    inference_hierarchy(seg_model, skimage.data.chelsea())
    assert seg_model.backbone.out_type == 'featmap'


def test_classifier_scores_are_those_of_evaluation(cls_model):
    from mmcast.apis import inference_model
    img = skimage.data.chelsea()
    result = inference_hierarchy(cls_model, img, channel_order='rgb')
    assert result.scores.shape == (5, )
    assert abs(result.scores.sum() - 1) < 1e-6
    assert result.pred_label == int(np.argmax(result.scores))
    # The test pipeline crops the centre: the scores are those of the
    # cropped view (what tools/test.py scores), the hierarchy is whole.
    expected = inference_model(cls_model, img, channel_order='rgb')
    np.testing.assert_allclose(result.scores,
                               expected.pred_score.double().numpy(),
                               atol=1e-6)
    assert result.input_shape == (96, 144)
    assert result.topk(2)[0][0] == result.pred_label


def test_segmentor_has_no_scores(seg_model):
    result = inference_hierarchy(seg_model, skimage.data.chelsea())
    assert result.scores is None and result.topk() == []


def test_checkpoint_and_class_names(tmp_path):
    ckpt = tmp_path / 'tiny_cls.pth'
    names = ['ant', 'bee', 'cat', 'dog', 'eel']
    save_tiny_checkpoint(str(ckpt), CLS_CFG, classes=names, favour=3)
    model = init_model(CLS_CFG, str(ckpt))
    assert model.dataset_meta['classes'] == tuple(names)
    result = inference_hierarchy(model, skimage.data.coffee())
    assert result.pred_label == 3 and result.scores[3] > 0.9
    assert result.topk(1) == [(3, pytest.approx(result.scores[3]), 'dog')]


def test_superpixels_missed_by_the_stem_grid_borrow_a_token():
    # 16x16 -> the stem grid is 2x2 and samples pixels (0,0), (0,8), (8,0),
    # (8,8): quadrants 0..3 get tokens, superpixels 4 and 5 none.
    labels = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 8, 0), 8, 1)
    labels[3:5, 3:5] = 4  # inside quadrant 0
    labels[2:4, 7:11] = 5  # one column in quadrant 0, three in quadrant 1
    valid = np.array([True] * 4 + [False] * 2)
    rep = superpixel_representatives(torch.from_numpy(labels),
                                     torch.from_numpy(valid), (2, 2))
    np.testing.assert_array_equal(rep.numpy(), [0, 1, 2, 3, 0, 1])
