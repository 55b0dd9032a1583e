# Copyright (c) mmcast contributors. All rights reserved.
"""The hierarchy models, metrics and datasets of mmcast.evaluation."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmcast  # noqa: F401
from mmcast.evaluation import (ClusteringMetric, HierarchyMetric,
                               SegmentRetrievalMetric)
from mmcast.models.segmentors import nested_kmeans
from tests.hierarchy_helpers import nesting_violations

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def sample(levels, gt, sizes, role=None, units=None):
    """A predicted data sample as the evaluator hands it to a metric."""
    s = SegDataSample(metainfo=dict(level_sizes=sizes, img_path='x.png'))
    s.pred_levels = PixelData(data=torch.as_tensor(np.stack(levels)))
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    if role is not None:
        s.set_metainfo(dict(retrieval_role=role))
    if units is not None:
        unit_levels, emb, weights = units
        s.set_field(torch.as_tensor(unit_levels), 'unit_levels')
        s.set_field(torch.as_tensor(emb, dtype=torch.float32),
                    'unit_embeddings')
        s.set_field(torch.as_tensor(weights), 'unit_weights')
    return s.to_dict()


def test_hierarchy_metric_hand_computed_levels_and_reductions():
    gt = np.array([[0, 0, 1, 1]] * 2)
    fine = np.array([[0, 1, 2, 3]] * 2)  # 4 segments: perfect
    coarse = np.array([[0, 0, 0, 1]] * 2)  # 2 segments: 0 takes class 0
    metric = HierarchyMetric(levels=[4, 2], num_classes=2)
    metric.process({}, [sample([fine, fine, coarse], gt, [4, 4, 2])])
    m = metric.compute_metrics(metric.results)
    assert m['mIoU@4'] == 100.0
    # coarse: pred 0 0 0 1 -> IoU0 = 2/3, IoU1 = 1/2
    assert m['mIoU@2'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2, abs=0.01)
    assert m['bF@4'] < 100.0  # extra boundaries inside each class
    with pytest.raises(ValueError, match='no level with 3 segments'):
        HierarchyMetric(levels=[3], num_classes=2).process(
            {}, [sample([fine, fine, coarse], gt, [4, 4, 2])])


def test_hierarchy_metric_uses_a_namer(tmp_path):
    import cv2
    gt = np.array([[0, 0, 1, 1]] * 2)
    seg = np.array([[0, 0, 1, 1]] * 2)
    img = np.zeros((2, 4, 3), np.uint8)
    img[:, 2:] = (0, 0, 255)  # right half red (BGR on disk)
    cv2.imwrite(str(tmp_path / 'x.png'), img)
    seen = {}

    def redness_namer(image, masks):
        """Calls a segment class 1 when it is red (RGB image)."""
        seen['shape'] = masks.shape
        red = np.array([image[m][:, 0].mean() for m in masks])
        return np.stack([255 - red, red], 1)

    s = sample([seg, seg], gt, [2, 2])
    s['img_path'] = str(tmp_path / 'x.png')
    metric = HierarchyMetric(levels=[2], num_classes=2,
                             labeller=redness_namer)
    metric.process({}, [s])
    assert seen['shape'] == (2, 2, 4)
    assert metric.compute_metrics(metric.results)['mIoU@2'] == 100.0
    # A namer that calls everything red gets class 0 wrong.
    metric = HierarchyMetric(levels=[2], num_classes=2,
                             labeller=lambda im, m: np.tile([0., 1.],
                                                            (len(m), 1)))
    metric.process({}, [s])
    assert metric.compute_metrics(metric.results)['mIoU@2'] == 25.0


def test_clustering_metric_recovers_clusters_of_embeddings():
    # Two images, units embedded near two directions, each unit pure.
    gt = np.array([[0, 0, 1, 1]])
    units = np.array([[0, 1, 2, 3]])
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    unit_levels = np.stack([np.arange(4), np.arange(4)])
    s = sample([units, units], gt, [4, 4],
               units=(unit_levels, emb, np.ones(4)))
    m = ClusteringMetric(num_classes=2, seed=0)
    m.process({}, [s, s])
    assert m.compute_metrics(m.results)['hungarian_mIoU@2'] == 100.0
    over = ClusteringMetric(num_clusters=4, mode='many_to_one',
                            num_classes=2)
    over.process({}, [s])
    assert over.compute_metrics(over.results)['many_to_one_mIoU@4'] == 100.0


def test_retrieval_metric_labels_queries_from_the_bank():
    gt = np.array([[0, 0, 2, 2]] * 3)
    seg = np.array([[0, 0, 1, 1]] * 3)
    unit_levels = np.stack([np.arange(2), np.arange(2)])
    bank_emb = np.array([[1, 0], [0, 1]], np.float32)
    bank = sample([seg, seg], gt, [2, 2], 'bank',
                  (unit_levels, bank_emb, [6, 6]))
    # The query's segments look like the bank's, in the other order.
    q_gt = np.array([[2, 2, 0, 0]] * 3)
    query = sample([seg, seg], q_gt, [2, 2], 'query',
                   (unit_levels, bank_emb[::-1].copy(), [6, 6]))
    metric = SegmentRetrievalMetric(level=2, k=1, num_classes=3)
    metric.process({}, [bank, query])
    m = metric.compute_metrics(metric.results)
    assert m['mIoU'] == 100.0 and m['bF'] == 100.0
    # Without a bank: a clear error.
    lonely = SegmentRetrievalMetric(level=2, num_classes=3)
    lonely.process({}, [query])
    with pytest.raises(ValueError, match='bank'):
        lonely.compute_metrics(lonely.results)


def test_nested_kmeans_levels_nest_and_shrink():
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(c, 0.1, (50, 3))
                            for c in range(6)]).astype(np.float32)
    levels = nested_kmeans(feats, [6, 3, 2], iters=20, seed=0)
    assert [len(np.unique(lv)) for lv in levels] == [6, 3, 2]
    for fine, coarse in zip(levels[:-1], levels[1:]):
        for s in np.unique(fine):
            assert len(np.unique(coarse[fine == s])) == 1
    # Seeded: the same levels again.
    again = nested_kmeans(feats, [6, 3, 2], iters=20, seed=0)
    assert all((a == b).all() for a, b in zip(levels, again))


def tiny_cast_hierarchy(**kw):
    return MODELS.build(dict(
        type='HierarchySegmentor',
        data_preprocessor=dict(type='CASTSegDataPreProcessor', mean=MEAN,
                               std=STD, bgr_to_rgb=True),
        backbone=dict(type='CAST', arch=dict(embed_dims=32,
                                             depths=[1, 1, 1, 1],
                                             num_heads=2),
                      img_size=64, num_clusters=[16, 8, 4, 2],
                      pool_num_heads=2), **kw))


def tiny_vit_hierarchy():
    return MODELS.build(dict(
        type='ViTKMeansHierarchy',
        data_preprocessor=dict(type='CASTSegDataPreProcessor', mean=MEAN,
                               std=STD, bgr_to_rgb=True),
        backbone=dict(type='mmpretrain.VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=64, patch_size=8),
        num_clusters=[16, 8, 4, 2]))


def batch_of(img, sp, ori_shape=None):
    h, w = img.shape[:2]
    x = torch.from_numpy(np.concatenate(
        [img.astype(np.float32), sp[..., None].astype(np.float32)],
        -1)).permute(2, 0, 1)
    s = SegDataSample(metainfo=dict(img_shape=(h, w),
                                    ori_shape=ori_shape or (h, w)))
    return x, s


@pytest.mark.parametrize('builder', [tiny_cast_hierarchy, tiny_vit_hierarchy])
def test_hierarchy_models_predict_nested_levels_at_the_original_size(
        builder):
    from mmcast.datasets.transforms import compute_superpixels
    torch.manual_seed(0)
    model = builder().eval()
    rng = np.random.default_rng(0)
    img = np.kron(rng.integers(0, 255, (4, 4, 3)),
                  np.ones((16, 16, 1))).astype(np.uint8)
    sp = compute_superpixels(img, 16)
    x, s = batch_of(img, sp, ori_shape=(96, 80))
    batch = model.data_preprocessor(dict(inputs=[x], data_samples=[s]))
    out, = model.predict(batch['inputs'], batch['data_samples'])
    levels = out.pred_levels.data.numpy()
    assert levels.shape == (5, 96, 80)
    assert out.metainfo['level_sizes'][1:] == [16, 8, 4, 2]
    assert not nesting_violations(list(levels))
    # Every level has at most its nominal number of segments.
    for lv, k in zip(levels[1:], [16, 8, 4, 2]):
        assert len(np.unique(lv)) <= k
    # Units embed as unit vectors (mean normalised features).
    emb = out.unit_embeddings
    assert emb.shape[0] == out.unit_weights.shape[0]
    assert torch.all(emb.norm(dim=1) <= 1 + 1e-5)
    assert int(out.unit_weights.sum()) == 64 * 64


def test_cast_hierarchy_model_matches_the_backbone_chain():
    """The levels are the chained argmax of the GraphPools, painted through
    the superpixels (checked against the raw backbone output)."""
    from mmcast.datasets.transforms import compute_superpixels
    torch.manual_seed(0)
    model = tiny_cast_hierarchy().eval()
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)
    sp = compute_superpixels(img, 30)
    x, s = batch_of(img, sp)
    batch = model.data_preprocessor(dict(inputs=[x], data_samples=[s]))
    out, = model.predict(batch['inputs'], batch['data_samples'])
    model.backbone.out_type = 'raw'
    raw = model.backbone(batch['inputs'])
    labels = raw['superpixels'][0]
    for lv, chain in enumerate(raw['hierarchy']):
        expected = chain[0][labels]
        assert torch.equal(out.pred_levels.data[lv], expected)


def test_hierarchy_segmentor_cannot_train():
    model = tiny_cast_hierarchy()
    with pytest.raises(NotImplementedError, match='hierarchy'):
        model.loss(torch.zeros(1, 4, 8, 8), [])


def test_vit_baseline_takes_mmseg_vit_and_drops_its_class_token():
    """mmseg's VisionTransformer (class token always inside) gives the token
    map of its last block, before the final norm."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ViTKMeansHierarchy',
        backbone=dict(type='mmseg.VisionTransformer', img_size=(64, 64),
                      patch_size=16, embed_dims=32, num_layers=2,
                      num_heads=2, final_norm=True),
        num_clusters=[8, 4, 2, 1])).eval()
    x = torch.randn(2, 3, 64, 48)
    seen = {}
    hook = model.backbone.layers[-1].register_forward_hook(
        lambda m, i, o: seen.__setitem__('out', o))
    tokens = model.token_map(x)
    hook.remove()
    assert tokens.shape == (2, 32, 4, 3)
    # The last block's patch tokens (class token dropped), unnormalised.
    expected = seen['out'][:, 1:].transpose(1, 2).reshape(2, 32, 4, 3)
    assert torch.equal(tokens, expected)
    res = model.extract_hierarchy(torch.cat([x, torch.zeros(2, 1, 64, 48)],
                                            1))
    assert [len(torch.unique(lv)) for lv in res[0]['unit_levels'][1:]] == \
        [8, 4, 2, 1]


def test_metrics_are_registered_in_mmseg_and_mmpretrain():
    from mmpretrain.registry import METRICS as PRETRAIN_METRICS
    from mmseg.registry import METRICS as SEG_METRICS
    for name in ('HierarchyMetric', 'ClusteringMetric',
                 'SegmentRetrievalMetric'):
        for registry in (SEG_METRICS, PRETRAIN_METRICS):
            metric = registry.build(dict(type=name, num_classes=3))
            assert type(metric).__name__ == name


@pytest.mark.parametrize('metric', ['HierarchyMetric', 'BoundaryFMetric',
                                    'SegmentRetrievalMetric'])
def test_bad_reduction_is_one_line_error(metric):
    from mmcast.registry import SEG_METRICS
    with pytest.raises(ValueError, match="reduction must be 'image' or "
                       "'dataset', got 'pixel'"):
        SEG_METRICS.build(dict(type=metric, reduction='pixel'))
    assert SEG_METRICS.build(dict(type=metric,
                                  reduction='image')).reduction == 'image'
