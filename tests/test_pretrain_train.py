# Copyright (c) mmcast contributors. All rights reserved.
"""Every mmpretrain config trains a few iterations through tools/train.py on
generated data in ImageNet's (or COCO's) layout, with a tiny CAST, and
saves a checkpoint."""
import os.path as osp

import pytest
import torch

from mmcast.registry import PRETRAIN_MODELS
from tests.pretrain_utils import (CONFIGS, TINY_BACKBONE, format_options,
                                  in1k_wnids, in100_wnids, make_coco,
                                  make_imagenet, run_tool, schedule_options,
                                  val_options)

TINY_MOCO = {
    'model.neck.in_channels': 32,
    'model.neck.hid_channels': 64,
    'model.neck.out_channels': 16,
    'model.head.predictor.in_channels': 16,
    'model.head.predictor.hid_channels': 64,
    'model.head.predictor.out_channels': 16,
}


@pytest.fixture(scope='module')
def in1k(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    make_imagenet(root, in1k_wnids(), used=2, per_class=2, val_ann=True)
    return root


@pytest.fixture(scope='module')
def in100(tmp_path_factory):
    """The IN-1K folders of the paper's 100 classes plus classes outside
    the subset (which the IN-100 configs must not read)."""
    root = str(tmp_path_factory.mktemp('imagenet100'))
    wnids = in100_wnids()
    make_imagenet(root, wnids, used=2, per_class=2, val_ann=False)
    make_imagenet(root, ['n00000001', 'n99999999'], used=2, per_class=1,
                  val_ann=False, seed=1)
    return root


def train(config, work_dir, options):
    run_tool('train', [osp.join(CONFIGS, config), '--work-dir',
                       str(work_dir), '--cfg-options'] +
             format_options(options))
    ckpt = osp.join(str(work_dir), 'epoch_1.pth')
    assert osp.isfile(ckpt), f'{config} saved no checkpoint'
    return torch.load(ckpt, map_location='cpu', weights_only=False)


def check_steps(ckpt, iters):
    assert ckpt['meta']['iter'] == iters
    assert ckpt['meta']['epoch'] == 1


def supervised(config, root, tmp_path, num_classes=1000, embed=32):
    opts = dict(TINY_BACKBONE, **schedule_options(root),
                **val_options(root))
    opts['model.head.in_channels'] = embed
    ckpt = train(config, tmp_path, opts)
    sd = ckpt['state_dict']
    assert sd['head.fc.weight'].shape == (num_classes, embed)
    assert sd['backbone.cls_token'].shape == (1, 1, embed)
    return ckpt


def test_deit_s_trains(in1k, tmp_path):
    ckpt = supervised('cast_s_in1k_deit.py', in1k, tmp_path)
    check_steps(ckpt, 2)  # 4 images, batch 2, one epoch
    assert 'backbone.pos_embed' in ckpt['state_dict']  # learned table


@pytest.mark.slow
def test_deit_b_trains(in1k, tmp_path):
    check_steps(supervised('cast_b_in1k_deit.py', in1k, tmp_path), 2)


def moco(config, root, tmp_path):
    opts = dict(TINY_BACKBONE, **TINY_MOCO, **schedule_options(root))
    ckpt = train(config, tmp_path, opts)
    sd = ckpt['state_dict']
    # online and momentum encoders, both CAST
    assert 'backbone.stages.0.pool.refine.bias' in sd
    assert 'momentum_encoder.module.0.stages.0.pool.refine.bias' in sd
    return ckpt


def test_mocov3_in1k_trains(in1k, tmp_path):
    ckpt = moco('cast_s_mocov3_in1k.py', in1k, tmp_path)
    check_steps(ckpt, 2)
    sd = ckpt['state_dict']
    # the online encoder moved, the EMA copy followed it only partly
    assert not torch.equal(sd['backbone.stages.0.blocks.0.attn.qkv.weight'],
                           sd['momentum_encoder.module.0.stages.0.blocks.0.'
                              'attn.qkv.weight'])


@pytest.mark.slow
def test_mocov3_in100_trains(in100, tmp_path):
    # 2 classes x 2 images of the subset; the 2 foreign classes are skipped
    check_steps(moco('cast_s_mocov3_in100.py', in100, tmp_path), 2)


def test_mocov3_coco_trains(tmp_path):
    root = str(tmp_path / 'coco')
    make_coco(root, n=2)
    check_steps(moco('cast_s_mocov3_coco.py', root, tmp_path / 'work'), 1)


def pretrained_backbone(path):
    """A tiny self-supervised-style CAST saved as a pre-training run would
    save it (keys under 'backbone.')."""
    cfg = dict(type='CAST', arch=dict(embed_dims=32, depths=[1, 1, 1, 1],
                                      num_heads=2), pool_num_heads=2)
    backbone = PRETRAIN_MODELS.build(cfg)
    backbone.init_weights()
    with torch.no_grad():  # make BN statistics non-trivial
        for m in backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    sd = {'backbone.' + k: v.clone() for k, v in
          backbone.state_dict().items()}
    torch.save(dict(state_dict=sd), path)
    return sd


def linear_probe(config, root, tmp_path, num_classes):
    init = pretrained_backbone(str(tmp_path / 'pretrained.pth'))
    opts = dict(TINY_BACKBONE, **schedule_options(root), **val_options(root))
    opts.update({
        'model.head.in_channels': 32,
        'model.backbone.init_cfg.checkpoint': str(tmp_path / 'pretrained.pth'),
    })
    ckpt = train(config, tmp_path / 'work', opts)
    sd = ckpt['state_dict']
    # the backbone (weights and BN statistics) is exactly the pre-trained one
    backbone = {k: v for k, v in sd.items() if k.startswith('backbone.')}
    assert set(backbone) == set(init)
    changed = [k for k in init if not torch.equal(backbone[k], init[k])]
    assert not changed, changed
    # only the linear head was optimised, and it was
    assert sd['head.fc.weight'].shape == (num_classes, 32)
    state = ckpt['optimizer']['state']
    assert len(state) == 2
    assert all(s['momentum_buffer'].abs().sum() > 0 for s in state.values())
    return ckpt


def test_linear_in100_keeps_backbone(in100, tmp_path):
    ckpt = linear_probe('cast_s_linear_in100.py', in100, tmp_path, 100)
    check_steps(ckpt, 2)  # only the 4 images of the subset's classes


@pytest.mark.slow
def test_linear_in1k_keeps_backbone(in1k, tmp_path):
    check_steps(linear_probe('cast_s_linear_in1k.py', in1k, tmp_path, 1000),
                2)
