# Copyright (c) mmcast contributors. All rights reserved.
"""Every config loads, passes mmcast's checks' pipeline rule, builds its
model, and the segmentation configs carry the release's recipes."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmcast  # noqa: F401
from mmcast.apis.launch import _datasets, _has_superpixels, _uses_cast
from tests.conftest import ROOT

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(p) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mmcast']
    assert _uses_cast(cfg.model)
    for name, ds in _datasets(cfg):
        pipe = ds.get('pipeline', [])
        assert _has_superpixels(pipe), (name, path)
        # Superpixels right before packing, after every augmentation (in
        # a MultiView, last in each view's pipeline).
        types = [t['type'] for t in pipe]
        if types[-2] == 'MultiView':
            for view in pipe[-2]['transforms']:
                assert view[-1]['type'] == 'Superpixels', view
        else:
            assert types[-2] == 'Superpixels', types
    if 'tta_pipeline' in cfg:
        assert _has_superpixels(cfg.tta_pipeline)
    scope = cfg.default_scope
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'CAST'


@pytest.mark.parametrize('name,crop,stride,iters,classes', [
    ('cast_s_ade20k', 512, 512, 160000, 150),
    ('cast_b_ade20k', 512, 512, 160000, 150),
    ('cast_s_pascal_context', 480, 320, 80000, 59),
    ('cast_b_pascal_context', 480, 320, 80000, 59),
])
def test_segmentation_recipes(name, crop, stride, iters, classes):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name + '.py'))
    m = cfg.model
    assert m.test_cfg == dict(mode='slide', crop_size=(crop, crop),
                              stride=(stride, stride))
    assert m.data_preprocessor.size == (crop, crop)
    assert m.data_preprocessor.type == 'CASTSegDataPreProcessor'
    assert m.backbone.num_clusters == [320, 160, 80, 40]
    assert m.decode_head.decoder == 'mask_transformer'
    assert m.decode_head.num_layers == 2 and m.decode_head.drop_rate == 0.1
    assert m.decode_head.num_classes == classes
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.0)
    poly, = cfg.param_scheduler
    assert poly.type == 'PolyLR' and poly.eta_min == 1e-5
    assert poly.end == iters and cfg.train_cfg.max_iters == iters
    crop_step = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t['type'] == 'RandomCrop'][0]
    assert crop_step.crop_size == (crop, crop)
    total = cfg.train_dataloader.batch_size * 8
    assert total == cfg.auto_scale_lr.base_batch_size == (
        8 if 'ade' in name else 16)
    arch = 'base' if '_b_' in name else 'small'
    assert m.backbone.arch == arch
    assert m.decode_head.in_channels == (768 if arch == 'base' else 384)


ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


def _delete_keys(node, path=''):
    """Paths of the dicts of a loaded config that still hold ``_delete_``
    (left when a child sets ``_delete_`` on a key its base does not have:
    the builder then gets it as an argument)."""
    if isinstance(node, dict):
        found = [path] if '_delete_' in node else []
        for key, value in node.items():
            found += _delete_keys(value, f'{path}.{key}')
        return found
    if isinstance(node, (list, tuple)):
        return [p for i, v in enumerate(node)
                for p in _delete_keys(v, f'{path}[{i}]')]
    return []


def test_no_config_keeps_a_delete_key():
    assert _delete_keys({'a': {'_delete_': True, 'b': [{'c': 1}]}}) == ['.a']
    left = {osp.relpath(p, ROOT): _delete_keys(Config.fromfile(p).to_dict())
            for p in ALL_CONFIGS}
    assert len(left) > 40
    assert not {k: v for k, v in left.items() if v}
