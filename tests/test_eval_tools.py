# Copyright (c) mmcast contributors. All rights reserved.
"""The hierarchy evaluation tools end to end on small fake datasets in the
real layouts (PartImageNet, VOC + SBD aug, toy scenes), with CAST and the
ViT + k-means baseline."""
import glob
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmcast  # noqa: F401
from tests.conftest import ROOT, load_tool
from tests.evaluation_helpers import (NO_WORKERS, TINY_CAST, TINY_VIT,
                                      make_partimagenet, make_voc)

HIER = osp.join(ROOT, 'configs', 'hierarchy')
HIER_CONFIGS = sorted(glob.glob(osp.join(HIER, '*.py')))


def options(d):
    """--cfg-options arguments from a dict of plain values."""
    return ['--cfg-options'] + [f'{k}={v}' for k, v in d.items()]


def tiny_config(tmp_path, config, tiny):
    """A config inheriting ``configs/hierarchy/<config>`` with a tiny model
    (``tiny``: dotted keys of the model), as a user would write one."""
    model = {}
    for key, value in tiny.items():
        node = model
        parts = key.split('.')[1:]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    path = tmp_path / ('tiny_' + config)
    path.write_text(f'_base_ = [{osp.join(HIER, config)!r}]\n'
                    f'model = {model!r}\n')
    return str(path)


@pytest.mark.parametrize('path', HIER_CONFIGS,
                         ids=[osp.basename(p) for p in HIER_CONFIGS])
def test_hierarchy_configs_load_and_build(path):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(path)
    types = [t['type'] for t in cfg.test_dataloader.dataset.get(
        'pipeline', cfg.test_pipeline)]
    assert types[-2] == 'Superpixels' and 'Pack' in types[-1]
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ in ('HierarchySegmentor',
                                    'ViTKMeansHierarchy')


def test_partimagenet_dataset_objects_from_parts(tmp_path):
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    masks = make_partimagenet(str(tmp_path))
    cfg = Config.fromfile(osp.join(HIER, 'cast_s_mocov3_partimagenet.py'))
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = str(tmp_path)
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 3
    out = ds[0]['data_samples']
    parts = out.gt_part_seg.data[0].numpy()
    objects = out.gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(parts, masks[0])
    # Quadruped parts 0..3 -> object 0, car body (24) -> car (6),
    # background 40 -> 11.
    assert set(np.unique(objects[parts <= 3])) == {0}
    assert set(np.unique(objects[parts == 24])) == {6}
    assert set(np.unique(objects[parts == 40])) == {11}
    assert ds.metainfo['classes'][6] == 'Car'
    assert len(ds.metainfo['part_classes']) == 41


def test_partimagenet_mapping_follows_the_coco_json(tmp_path):
    from mmcast.datasets.partimagenet import part_to_object_from_coco
    cats = [dict(id=0, name='b', supercategory='Bird'),
            dict(id=1, name='a', supercategory='Ant'),
            dict(id=2, name='b2', supercategory='Bird')]
    path = tmp_path / 'x.json'
    path.write_text(json.dumps(dict(categories=cats)))
    assert part_to_object_from_coco(str(path)) == [0, 1, 0, 2]


@pytest.mark.parametrize('config,tiny', [
    ('cast_s_mocov3_partimagenet.py', TINY_CAST),
    ('vit_s_kmeans_partimagenet.py', TINY_VIT),
])
def test_eval_hierarchy_on_partimagenet(tmp_path, config, tiny, capsys):
    make_partimagenet(str(tmp_path / 'pin'))
    tool = load_tool('tools/analysis_tools/eval_hierarchy.py')
    out = tmp_path / 'metrics.json'
    metrics = tool.main([
        tiny_config(tmp_path, config, tiny), '--out', str(out)
    ] + options(dict(NO_WORKERS, **{'test_dataloader.dataset.data_root':
                                    str(tmp_path / 'pin')})))
    for key in ('object/mIoU@8', 'object/bF@8', 'part/mIoU@16',
                'part/bF@16'):
        assert 0 <= metrics[key] <= 100
    saved = json.loads(out.read_text())
    assert saved['num_images'] == 3 and saved['metrics'] == metrics
    printed = capsys.readouterr().out
    assert 'region mIoU' in printed and 'object' in printed
    # 8 oracle-named segments on these images of 3 objects cover the
    # objects well above chance (1/12 of classes).
    assert metrics['object/mIoU@8'] > 20


@pytest.mark.parametrize('config,tiny', [
    ('cast_s_mocov3_voc_retrieval.py', TINY_CAST),
    # Pixel k-means at 512 px is the baseline's cost: fewer clusters and
    # iterations keep the test short (the 40-segment level stays).
    ('vit_s_kmeans_voc_retrieval.py',
     dict(TINY_VIT, **{'model.num_clusters': [80, 40, 20, 10],
                       'model.kmeans_iters': 10})),
])
def test_eval_hierarchy_on_voc_retrieval(tmp_path, config, tiny):
    make_voc(str(tmp_path))
    tool = load_tool('tools/analysis_tools/eval_hierarchy.py')
    small = {
        'test_dataloader.dataset.bank.datasets.0.data_root':
        str(tmp_path / 'VOCdevkit' / 'VOC2012'),
        'test_dataloader.dataset.bank.datasets.1.data_root':
        str(tmp_path / 'VOCdevkit' / 'VOC2012'),
        'test_dataloader.dataset.query.data_root':
        str(tmp_path / 'VOCdevkit' / 'VOC2012'),
    }
    metrics = tool.main([tiny_config(tmp_path, config, tiny)] +
                        options(dict(NO_WORKERS, **small)))
    assert set(metrics) == {'retrieval/mIoU', 'retrieval/bF',
                            'retrieval/bP', 'retrieval/bR'}
    assert all(0 <= v <= 100 for v in metrics.values())


def test_tent_leaves_the_model_alone_and_moves_only_norms():
    from mmcast.adaptation import class_means, entropy_loss, tent_adapt
    from mmcast.adaptation.tent import image_embeddings
    from tests.test_evaluation_metrics import batch_of, tiny_cast_hierarchy
    from mmcast.datasets.transforms import compute_superpixels
    torch.manual_seed(0)
    model = tiny_cast_hierarchy().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)
    x, s = batch_of(img, compute_superpixels(img, 16))
    inputs = model.data_preprocessor(dict(inputs=[x], data_samples=[s]))[
        'inputs']
    means = class_means(torch.randn(6, 32), torch.tensor([0, 0, 1, 1, 2, 2]))
    with torch.no_grad():
        loss0 = entropy_loss(image_embeddings(model, inputs), means)
    adapted = tent_adapt(model, inputs, means, lr=1.0, steps=3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    changed = {k for k, v in adapted.state_dict().items()
               if not torch.equal(v, before[k])}
    from mmcast.adaptation.tent import NORM_TYPES
    norm_keys = {f'{name}.{p}' for name, m in adapted.named_modules()
                 if isinstance(m, NORM_TYPES) for p in ('weight', 'bias')}
    assert changed and changed <= norm_keys, changed - norm_keys
    with torch.no_grad():
        loss1 = entropy_loss(image_embeddings(adapted, inputs), means)
    assert loss1 < loss0
    with pytest.raises(ValueError, match='lr'):
        tent_adapt(model, inputs, means, lr=0)


def test_class_means_average_normalised_features():
    from mmcast.adaptation import class_means
    feats = torch.tensor([[2., 0.], [0., 3.], [4., 0.], [1., 1.]])
    means = class_means(feats, torch.tensor([0, 0, 1, -1]), 3)
    assert torch.allclose(means, torch.tensor([[.5, .5], [1., 0.], [0., 0.]]))


@pytest.mark.parametrize('config,tiny', [
    ('cast_s_mocov3_partimagenet.py', TINY_CAST),
    ('vit_s_kmeans_partimagenet.py', TINY_VIT),
])
def test_inference_hierarchy_takes_either_hierarchy_model(config, tiny):
    import warnings

    import skimage.data

    from mmcast.apis import inference_hierarchy, init_model
    from tests.hierarchy_helpers import nesting_violations
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_model(osp.join(HIER, config), cfg_options=tiny)
    img = skimage.data.coffee()[::2, ::2]
    res = inference_hierarchy(model, img, channel_order='rgb')
    assert res.num_clusters == [64, 32, 16, 8]
    assert len(res.levels) == 5
    assert all(lv.shape == img.shape[:2] for lv in res.levels)
    assert not nesting_violations(res.levels)
    assert [len(np.unique(lv)) <= k for lv, k in
            zip(res.levels[1:], res.num_clusters)] == [True] * 4
    # Level 0 and the per-unit labels agree.
    np.testing.assert_array_equal(
        res.levels[2], res.superpixel_labels[2][res.levels[0]])


def test_tools_test_evaluates_a_hierarchy_from_a_segmentor_checkpoint(
        tmp_path):
    """tools/test.py with a hierarchy config loads a CAST segmentor's
    checkpoint (its backbone.*) and reports the hierarchy metrics."""
    import re
    import warnings

    from mmcast.apis import init_model
    from mmcast.datasets import generate_toy_scenes
    from tests.test_seg_e2e import run
    data = generate_toy_scenes(str(tmp_path / 'toy'), num_train=4,
                               num_val=3, size=64)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        seg = init_model(osp.join(ROOT, 'configs', 'cast_toy_scenes.py'))
    ckpt = tmp_path / 'seg.pth'
    torch.save(dict(state_dict=seg.state_dict(), meta={}), ckpt)
    # The hierarchy model takes exactly the segmentor's backbone weights.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        hier = init_model(osp.join(HIER, 'cast_toy_scenes.py'), str(ckpt))
    for k, v in seg.backbone.state_dict().items():
        assert torch.equal(hier.backbone.state_dict()[k], v), k
    out = run([sys.executable, 'tools/test.py',
               osp.join(HIER, 'cast_toy_scenes.py'), str(ckpt),
               '--work-dir', str(tmp_path / 'work'), '--cfg-options',
               f'test_dataloader.dataset.data_root={data}',
               'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False'])
    found = dict(re.findall(r'(toy/[\w@]+): ([\d.]+)', out))
    assert {'toy/mIoU@8', 'toy/bF@8', 'toy/mIoU@16',
            'toy/hungarian_mIoU@5'} <= set(found), out[-2000:]
    assert 0 < float(found['toy/mIoU@8']) <= 100


def test_hierarchy_demo_draws_the_vit_baseline(tmp_path):
    """The demo and the visualiser take the ViT + k-means model as they
    take CAST."""
    import cv2
    import skimage.data
    img = tmp_path / 'coffee.png'
    cv2.imwrite(str(img), skimage.data.coffee()[::3, ::3, ::-1])
    cfg = tiny_config(tmp_path, 'vit_s_kmeans_partimagenet.py', TINY_VIT)
    demo = load_tool('tools/demo/hierarchy_demo.py')
    result = demo.main([str(img), cfg, '--out-dir', str(tmp_path / 'out')])
    assert (tmp_path / 'out' / 'hierarchy.png').stat().st_size > 1000
    saved = [cv2.imread(str(tmp_path / 'out' / f'level_{i}.png'),
                        cv2.IMREAD_UNCHANGED) for i in range(5)]
    for lv, level in zip(saved, result.levels):
        np.testing.assert_array_equal(lv, level)
    assert [len(np.unique(lv)) <= k for lv, k in zip(saved[1:], [64, 32,
            16, 8])] == [True] * 4


def test_tent_tool_scores_images_before_and_after(tmp_path, capsys):
    from mmcast.datasets import generate_toy_scenes
    data = generate_toy_scenes(str(tmp_path / 'toy'), num_train=4,
                               num_val=2, size=64)
    cfg = tiny_config(tmp_path, 'cast_toy_scenes.py', TINY_CAST)
    tool = load_tool('tools/analysis_tools/tent_hierarchy.py')
    summary = tool.main([
        cfg, '--lr', '0.1', '--out-dir', str(tmp_path / 'tent'),
        '--cfg-options', f'test_dataloader.dataset.data_root={data}',
        f'tent_means_dataloader.dataset.data_root={data}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'tent_means_dataloader.num_workers=0'
    ])
    saved = json.loads((tmp_path / 'tent' / 'tent.json').read_text())
    assert saved['summary'] == summary and summary['images'] == 2
    for row in saved['images']:
        assert 0 <= row['before'] <= 1 and 0 <= row['after'] <= 1
    assert (tmp_path / 'tent' / 'tent_scatter.png').stat().st_size > 1000
    assert 'scene_00000' in capsys.readouterr().out


def test_toy_samples_are_the_rendered_scenes():
    """The toy demonstrations' in-memory scenes: the rendered image, its
    classes shifted to 0..4 (-1 none), the 8 px grid and the objects
    present with at least 20 pixels."""
    from mmcast.datasets.toy_scenes import render_scene, toy_samples
    samples = toy_samples(3, 64, seed=7)
    rng = np.random.default_rng(7)
    for s in samples:
        img, label = render_scene(rng, 64)
        np.testing.assert_array_equal(s['img'], img)
        np.testing.assert_array_equal(s['gt'], label.astype(np.int64) - 1)
        assert s['sp'].shape == (64, 64) and len(np.unique(s['sp'])) == 64
        assert s['labels'] == [i for i in range(3)
                               if (s['gt'] == i + 2).sum() >= 20]
