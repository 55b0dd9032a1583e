# Copyright (c) mmcast contributors. All rights reserved.
"""The Leopart configs train a few iterations through tools/train.py on
generated data in COCO's and VOC's layouts (tiny backbones, no
pre-trained weights), and a DINO-style checkpoint converts for them."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch

from mmcast.registry import PRETRAIN_MODELS
from tests.conftest import load_tool
from tests.pretrain_utils import (CONFIGS, format_options, make_coco,
                                  run_tool, write_images)

TINY_VIT = {
    'model.backbone.arch.embed_dims': 32,
    'model.backbone.arch.num_layers': 2,
    'model.backbone.arch.num_heads': 2,
    'model.backbone.arch.feedforward_channels': 64,
    'model.backbone.frozen_stages': 1,
}
TINY_CAST = {
    'model.backbone.arch.embed_dims': 32,
    'model.backbone.arch.depths': [1, 1, 1, 1],
    'model.backbone.arch.num_heads': 2,
    'model.backbone.pool_num_heads': 2,
}
TINY_HEAD = {
    'model.head.in_channels': 32,
    'model.head.hid_channels': 64,
    'model.head.out_channels': 16,
    'model.head.num_prototypes': 10,
    'model.backbone.init_cfg': None,
}


def make_voc(root, n=2):
    img_dir = osp.join(root, 'VOCdevkit', 'VOC2012', 'JPEGImages')
    names = [f'2007_{i:06d}' for i in range(n + 1)]
    write_images(img_dir, [f'{n}.jpg' for n in names],
                 np.random.default_rng(1))
    split = osp.join(root, 'VOCdevkit', 'VOC2012', 'ImageSets',
                     'Segmentation')
    os.makedirs(split)
    with open(osp.join(split, 'trainaug.txt'), 'w') as f:
        f.writelines(n + '\n' for n in names[:n])  # the last image: val
    return osp.join(root, 'VOCdevkit', 'VOC2012')


def train(config, data_root, work_dir, tiny):
    opts = dict(tiny, **TINY_HEAD)
    opts.update({
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': data_root,
        'train_cfg.max_epochs': 2,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'randomness.seed': 0,
    })
    run_tool('train', [osp.join(CONFIGS, 'leopart', config), '--work-dir',
                       str(work_dir), '--cfg-options'] +
             format_options(opts))
    first = torch.load(osp.join(str(work_dir), 'epoch_1.pth'),
                       map_location='cpu', weights_only=False)
    last = torch.load(osp.join(str(work_dir), 'epoch_2.pth'),
                      map_location='cpu', weights_only=False)
    return first, last


def check_training(first, last, trained, frozen):
    assert last['meta']['iter'] == 2 and last['meta']['epoch'] == 2
    a, b = first['state_dict'], last['state_dict']
    assert not torch.equal(a[trained], b[trained])  # the student learns
    assert torch.equal(a[frozen], b[frozen])  # frozen blocks stay
    # the teacher follows the student (EMA), and only partly
    t = 'teacher.module.' + trained
    assert not torch.equal(a[t], b[t]) and not torch.equal(b[t], b[trained])
    assert b['teacher.steps'] == 2
    # weight decay follows its cosine from 0.04 up, lr its cosine down
    groups = last['optimizer']['param_groups']
    decays = {g['weight_decay'] for g in groups}
    assert 0. in decays and max(decays) > 0.04


def test_vit_s16_coco_trains(tmp_path):
    root = str(tmp_path / 'coco')
    make_coco(root, n=2)
    first, last = train('leopart_vit_s16_coco.py', root, tmp_path / 'w',
                        TINY_VIT)
    check_training(first, last, 'backbone.layers.1.attn.qkv.weight',
                   'backbone.layers.0.attn.qkv.weight')
    head_lr = [g['lr'] for g in last['optimizer']['param_groups']]
    assert max(head_lr) == pytest.approx(10 * min(
        lr for lr in head_lr if lr > 0), rel=1e-6)


def test_cast_s_voc_trains(tmp_path):
    voc = make_voc(str(tmp_path))
    first, last = train('leopart_cast_s_voc.py', voc, tmp_path / 'w',
                        TINY_CAST)
    check_training(first, last, 'backbone.stages.3.blocks.0.attn.qkv.weight',
                   'backbone.stages.0.blocks.0.attn.qkv.weight')


def test_dino_checkpoint_converts_for_the_vit(tmp_path):
    """A timm/DINO-style state dict maps one to one onto mmpretrain's ViT."""
    converter = load_tool('tools/model_converters/dino2mmpretrain.py')
    vit = PRETRAIN_MODELS.build(dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64), img_size=64, patch_size=8))
    ours = vit.state_dict()
    # the DINO names of the same tensors
    dino = {'cls_token': ours['cls_token'], 'pos_embed': ours['pos_embed'],
            'patch_embed.proj.weight': ours['patch_embed.projection.weight'],
            'patch_embed.proj.bias': ours['patch_embed.projection.bias'],
            'norm.weight': ours['ln1.weight'], 'norm.bias': ours['ln1.bias'],
            'head.last_layer.weight': torch.zeros(3, 3)}
    for i in range(2):
        for a, b in [('norm1', 'ln1'), ('norm2', 'ln2'),
                     ('attn.qkv', 'attn.qkv'), ('attn.proj', 'attn.proj'),
                     ('mlp.fc1', 'ffn.layers.0.0'),
                     ('mlp.fc2', 'ffn.layers.1')]:
            for p in ('weight', 'bias'):
                dino[f'blocks.{i}.{a}.{p}'] = ours[f'layers.{i}.{b}.{p}']
    src = str(tmp_path / 'dino.pth')
    torch.save({'teacher': {'backbone.' + k: v for k, v in dino.items()}},
               src)
    dst = str(tmp_path / 'converted.pth')
    converter.convert(src, dst)
    converted = torch.load(dst, map_location='cpu')['state_dict']
    assert set(converted) == set(ours)
    assert all(torch.equal(converted[k], ours[k]) for k in ours)


LEOPART_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, 'leopart', '*.py')))


@pytest.mark.parametrize('path', LEOPART_CONFIGS,
                         ids=[osp.basename(p) for p in LEOPART_CONFIGS])
def test_leopart_configs_load_and_build(path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mmcast']
    cfg.model.backbone.init_cfg = None
    cast = cfg.model.backbone.type == 'CAST'
    pipe = cfg.train_dataloader.dataset.pipeline
    if cfg.default_scope == 'mmpretrain':
        # crops with boxes; CAST: superpixels last in every crop's pipeline
        crop = [t for t in pipe if t['type'] == 'MultiCropWithBoxes'][0]
        assert crop['num_crops'] == (2, 4)
        assert crop['crop_sizes'] == (224, 96)
        assert (crop['view_pipeline'][-1]['type'] == 'Superpixels') == cast
        assert pipe[-1]['algorithm_keys'] == ['crop_boxes']
        head = cfg.model.head
        assert (head.num_prototypes, head.out_channels, head.temperature,
                head.epsilon, head.sinkhorn_iters) == (300, 256, 0.1, 0.05,
                                                        3)
        assert cfg.model.base_momentum == 0.0005
        assert cfg.optim_wrapper.optimizer.lr == 1e-5
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys['head.'] == dict(
            lr_mult=10.)
        wd = [s for s in cfg.param_scheduler
              if s.type == 'CosineAnnealingWeightDecay'][0]
        assert (cfg.optim_wrapper.optimizer.weight_decay, wd.eta_min) == (
            0.04, 0.5)
        from mmpretrain.registry import MODELS
    else:
        assert (pipe[-2]['type'] == 'Superpixels') == cast
        from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == cfg.model.backbone.type.split(
        '.')[-1]
