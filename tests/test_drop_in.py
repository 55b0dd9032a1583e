# Copyright (c) mmcast contributors. All rights reserved.
"""Stock configs with only the backbone swapped for CAST train and test.

``configs/drop_in/`` inherits mmseg's SegFormer-B0 ADE20K config and
mmpretrain's ViT-B/16 ImageNet config through ``mmseg::`` / ``mmpretrain::``
and replaces the backbone and the head's input channels, nothing else: no
Superpixels transform, the stock data preprocessors.  The CAST backbone
computes its superpixels itself.
"""
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmcast  # noqa: F401
from mmcast.models.utils.superpixel_policy import MissingSuperpixelsWarning
from tests.conftest import ROOT
from tests.pretrain_utils import (in1k_wnids, make_imagenet,
                                  schedule_options, val_options)
from tests.test_seg_e2e import make_ade20k, shrink
from tests.upstream_tools import run_tool, stock_config

DROP_IN = osp.join(ROOT, 'configs', 'drop_in')
STOCK = {
    'segformer_cast_s_ade20k.py':
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    'vit_cast_s_in1k.py':
    'mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py',
}
TINY = {
    'model.backbone.arch': dict(embed_dims=32, depths=[1, 1, 1, 1],
                                num_heads=2),
    'model.backbone.pool_num_heads': 2,
}


def without_scope(node):
    """A config dict without the ``_scope_`` keys that ``mmseg::``
    inheritance adds to every dict it brings in."""
    if isinstance(node, dict):
        return {k: without_scope(v) for k, v in node.items()
                if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(without_scope(v) for v in node)
    return node


@pytest.mark.parametrize('name', sorted(STOCK))
def test_drop_in_config_changes_only_the_backbone(name):
    ours = without_scope(Config.fromfile(osp.join(DROP_IN, name)).to_dict())
    stock = Config.fromfile(stock_config(STOCK[name])).to_dict()
    head = 'decode_head' if 'decode_head' in stock['model'] else 'head'
    assert ours['model']['backbone']['type'] == 'CAST'
    for cfg in (ours, stock):
        del cfg['model']['backbone'], cfg['model'][head]['in_channels']
    assert ours.pop('custom_imports') == dict(imports=['mmcast'],
                                              allow_failed_imports=False)
    assert ours == stock


def segformer_options(tmp_path):
    root = make_ade20k(str(tmp_path / 'ADEChallengeData2016'))
    options = {k: eval(v) for k, v in
               (o.split('=', 1) for o in shrink())}
    options.update(TINY)
    options['model.decode_head.in_channels'] = [32] * 4
    for loader in ('train', 'val', 'test'):
        options[f'{loader}_dataloader.dataset.data_root'] = root
    return options


def vit_options(tmp_path):
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, in1k_wnids(), used=2, per_class=2)
    options = dict(schedule_options(root), **val_options(root), **TINY)
    options.update({
        'model.head.in_channels': 32,
        'train_dataloader.dataset.pipeline.1.scale': 64,
        'val_dataloader.dataset.pipeline.1.scale': 72,
        'val_dataloader.dataset.pipeline.2.crop_size': 64,
        'test_dataloader.dataset.pipeline.1.scale': 72,
        'test_dataloader.dataset.pipeline.2.crop_size': 64,
    })
    return options


def run_in_process(name, options, work_dir):
    cfg = Config.fromfile(osp.join(DROP_IN, name))
    cfg.model.backbone.arch = {}  # 'small' -> the tiny dict of options
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        runner = Runner.from_cfg(cfg)
        assert type(runner.model.backbone).__name__ == 'CAST'
        # The stock preprocessor sends 3-channel images: the backbone
        # computes their superpixels (and says so once).
        with pytest.warns(MissingSuperpixelsWarning, match='in the backbone'):
            runner.train()
        return runner.test()


def test_segformer_with_cast_trains_and_tests(tmp_path):
    metrics = run_in_process('segformer_cast_s_ade20k.py',
                             segformer_options(tmp_path), tmp_path / 'wd')
    assert 0 <= metrics['mIoU'] <= 100
    assert osp.exists(tmp_path / 'wd' / 'iter_2.pth')


def test_vit_config_with_cast_trains_and_tests(tmp_path):
    metrics = run_in_process('vit_cast_s_in1k.py', vit_options(tmp_path),
                             tmp_path / 'wd')
    assert 0 <= metrics['accuracy/top1'] <= 100
    assert osp.exists(tmp_path / 'wd' / 'epoch_1.pth')


def as_cli(options):
    out = []
    for k, v in options.items():
        if isinstance(v, dict):
            out += [f'{k}.{kk}={vv}'.replace(' ', '')
                    for kk, vv in v.items()]
        else:
            out.append(f'{k}={v}'.replace(' ', ''))
    return out


@pytest.mark.slow
@pytest.mark.parametrize('package,name,make_options,ckpt,metric', [
    ('mmseg', 'segformer_cast_s_ade20k.py', segformer_options, 'iter_2.pth',
     r'mIoU: ([0-9.]+)'),
    ('mmpretrain', 'vit_cast_s_in1k.py', vit_options, 'epoch_1.pth',
     r'accuracy/top1: ([0-9.]+)'),
], ids=['segformer', 'vit'])
def test_drop_in_config_under_the_upstream_train_and_test_tools(
        package, name, make_options, ckpt, metric, tmp_path):
    """mmseg's / mmpretrain's own tools/train.py and tools/test.py."""
    config = osp.join(DROP_IN, name)
    options = make_options(tmp_path)
    options['model.backbone.arch'] = dict(
        _delete_=True, **options['model.backbone.arch'])
    cli = as_cli(options)
    work = tmp_path / 'wd'
    run_tool(package, 'train.py',
             [config, '--work-dir', work, '--cfg-options', *cli])
    out = run_tool(package, 'test.py', [config, work / ckpt, '--work-dir',
                                        work, '--cfg-options', *cli]).output
    found = re.findall(metric, out)
    assert found and 0 <= float(found[-1]) <= 100, out[-3000:]
