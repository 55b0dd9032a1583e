# Copyright (c) mmcast contributors. All rights reserved.
"""The LarvSeg configs: every one loads and builds, carries the paper's
and the release's settings, and its vocabulary is the paper's split."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.datasets import ADE20KDataset, COCOStuffDataset
from mmseg.registry import DATASETS, MODELS

import mmcast  # noqa: F401
from mmcast.apis.launch import _datasets, _has_superpixels, _uses_cast
from tests.conftest import ROOT

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'larvseg', '*.py')))
MAIN = [p for p in CONFIGS if 'toy' not in p]


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', 'larvseg', name))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(p) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mmcast']
    head = cfg.model.decode_head
    assert head.type == 'LarvSegHead'
    cast = _uses_cast(cfg.model)
    assert cast == ('cast' in osp.basename(path))
    for _, ds in _datasets(cfg):
        assert _has_superpixels(ds.get('pipeline', [])) == cast
    train = cfg.train_dataloader
    assert train.sampler.type == 'MultiSourceSampler'
    assert train.sampler.batch_size == train.batch_size
    assert len(train.sampler.source_ratio) == len(train.dataset.sources)
    with DefaultScope.overwrite_default_scope('mmseg'):
        head = MODELS.build(cfg.model.decode_head)
    assert head.use_ca == ('baseline' not in path)


@pytest.mark.parametrize('name,backbone', [
    ('larvseg_vit-b16_c171-wa150_a150.py', 'VisionTransformer'),
    ('larvseg_cast-b_c171-wa150_a150.py', 'CAST'),
])
def test_full_size_models_build(name, backbone):
    cfg = load(name)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == backbone
    assert model.decode_head.memory.entries.shape == (245, 20, 768)


@pytest.mark.parametrize('path', MAIN, ids=[osp.basename(p) for p in MAIN])
def test_main_settings_follow_the_paper(path):
    cfg = Config.fromfile(path)
    head = cfg.model.decode_head
    names = [s['name'] for s in cfg.train_dataloader.dataset.sources]
    assert head.num_classes == 150 and head.vocab_size == 245
    assert head.loss_cls_weight == head.loss_aux_weight == 0.1
    assert head.memory_size == 20 and head.warmup == 1
    assert head.in_channels == head.channels == 768
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.)
    assert cfg.train_cfg.max_iters == 320000
    assert cfg.param_scheduler[0].eta_min == 1e-5
    assert cfg.test_evaluator.type == 'SplitIoUMetric'
    assert len(cfg.test_evaluator.novel_classes) == 87
    if 'i124' in path:
        assert names == ['wa150', 'c171', 'i124']
        assert cfg.train_dataloader.sampler.source_ratio == [3, 3, 2]
        assert head.topk == 40 and head.bg_thresh == 0.35
        assert head.bg_profile_thresh == 2.0
        assert head.source_loss_weights == dict(
            wa150=dict(loss_cls=0.2), i124=dict(loss_cls=0.2))
    else:
        assert names == ['wa150', 'c171']
        assert cfg.train_dataloader.sampler.source_ratio == [1, 1]
        assert head.topk == 20


def test_ade_coco_vocabulary_is_the_papers_split():
    cfg = load('larvseg_vit-b16_c171-wa150_a150.py')
    ade = ADE20KDataset.METAINFO['classes']
    coco = COCOStuffDataset.METAINFO['classes']
    aliases = cfg.coco171_to_ade150
    assert set(aliases) <= set(coco) and set(aliases.values()) <= set(ade)
    base = [c for c in ade if c in coco or c in aliases.values()]
    novel = [c for c in ade if c not in base]
    # Paper, Table 2: WA150 has 87 classes that are not in C171.
    assert len(base) == 63 and len(novel) == 87
    assert novel == list(cfg.ade150_novel_classes)
    union = list(dict.fromkeys(list(ade) + [aliases.get(c, c)
                                            for c in coco]))
    assert union[:150] == list(ade)
    assert len(union) == cfg.ade150_coco171_vocab_size
    wa150, c171 = cfg.train_dataloader.dataset.sources
    assert c171['class_map'] == aliases


def test_missing_source_root_is_one_line(tmp_path):
    cfg = load('larvseg_vit-b16_c171-wa150-i124_a150.py')
    ds = cfg.train_dataloader.dataset
    ds.sources[0].dataset.data_root = str(tmp_path)  # ADE: no images
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(FileNotFoundError) as err:
            DATASETS.build(ds)
    msg = str(err.value)
    assert '\n' not in msg and "'wa150'" in msg
    assert 'images/training' in msg and 'docs/larvseg.md' in msg
