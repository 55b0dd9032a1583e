# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart's tools: the evaluation of a checkpoint on VOC's layout
(clustering and the fully unsupervised path) and the toy demonstration."""
import json
import os.path as osp
import shutil

import pytest
import torch

from tests.conftest import ROOT, load_tool
from tests.evaluation_helpers import make_voc

LEOPART = osp.join(ROOT, 'configs', 'leopart')
TINY_VIT = [
    'model.backbone.arch.embed_dims=32', 'model.backbone.arch.num_layers=2',
    'model.backbone.arch.num_heads=2',
    'model.backbone.arch.feedforward_channels=64',
    'model.backbone.frozen_stages=-1', 'model.backbone.init_cfg=None',
    'model.head.in_channels=32', 'model.head.hid_channels=64',
    'model.head.out_channels=16', 'model.head.num_prototypes=10'
]


def test_leopart_eval_on_voc(tmp_path):
    voc = make_voc(str(tmp_path))
    names = []
    for split in ('train', 'aug'):
        with open(osp.join(voc, 'ImageSets', 'Segmentation',
                           split + '.txt')) as f:
            names += f.read().split()
    # mmseg's voc_aug.py writes every train_aug mask to SegmentationClassAug
    for name in names:
        src = osp.join(voc, 'SegmentationClass', name + '.png')
        if osp.isfile(src):
            shutil.copy(src, osp.join(voc, 'SegmentationClassAug'))
    with open(osp.join(voc, 'ImageSets', 'Segmentation', 'trainaug.txt'),
              'w') as f:
        f.write('\n'.join(names) + '\n')
    # a Leopart checkpoint of the tiny model
    tool = load_tool('tools/analysis_tools/leopart_eval.py')
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(LEOPART, 'leopart_vit_s16_voc.py'))
    cfg.merge_from_dict({o.split('=')[0]: eval(o.split('=')[1])
                         for o in TINY_VIT})
    model = tool.build_model(cfg, None)
    ckpt = str(tmp_path / 'leopart.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'eval.json')
    report = tool.main([
        osp.join(LEOPART, 'leopart_vit_s16_voc.py'), ckpt, '--data',
        osp.join(LEOPART, 'probe_linear_vit_s16_voc.py'), '--data-root', voc,
        '--ks', '21', '6',
        '--eval-size', '20', '--pca-dim', '8', '--fully-unsupervised',
        '--k-foreground', '6', '--k-parts', '4', '--markov-times', '1',
        '2', '--weight-thresholds', '0.01', '--out', out, '--cfg-options'
    ] + TINY_VIT)
    saved = json.load(open(out))
    assert saved['num_images'] == 3 and saved['grid'] == [28, 28]
    assert set(saved['clustering']) == {'hungarian@21', 'many_to_one@6'}
    assert all(0 <= v <= 1 for v in saved['clustering'].values())
    fu = saved['fully_unsupervised']
    assert 0 <= fu['miou'] <= 1 and fu['k_parts'] == 4
    assert fu['markov_time'] in (1., 2.)
    assert report['clustering'] == saved['clustering']


@pytest.mark.slow
def test_leopart_toy_runs_and_writes_its_json(tmp_path):
    tool = load_tool('tools/analysis_tools/leopart_toy.py')
    out = str(tmp_path / 'toy.json')
    report = tool.main(['--out', out, '--vit-steps', '2', '--cast-steps',
                        '2', '--train-images', '16', '--val-images', '6',
                        '--embed-dims', '24', '--eval-size', '32'])
    saved = json.load(open(out))
    assert saved == json.loads(json.dumps(report))
    for kind in ('vit', 'cast'):
        assert 0 <= saved[kind]['before'] <= 1
        assert 0 <= saved[kind]['after'] <= 1
    assert 0 <= saved['random'] <= 1
    assert 0 <= saved['community']['miou'] <= 1
    assert saved['seed'] == 0


@pytest.mark.slow
@pytest.mark.parametrize('config', ['probe_linear_vit_s16_voc.py',
                                    'probe_fcn_cast_s_voc.py'])
def test_probe_trains_on_frozen_features(tmp_path, config):
    """A probe config trains its head a few iterations through
    tools/train.py on VOC's layout; the backbone is the Leopart
    checkpoint's, unchanged."""
    from tests.pretrain_utils import format_options, run_tool
    voc = make_voc(str(tmp_path))
    cast = 'cast' in config
    tiny = {
        'model.backbone.arch.embed_dims': 32,
        'model.backbone.arch.num_heads': 2,
    }
    if cast:
        tiny.update({'model.backbone.arch.depths': [1, 1, 1, 1],
                     'model.backbone.pool_num_heads': 2,
                     'model.decode_head.in_channels': [32] * 4})
    else:
        tiny.update({'model.backbone.arch.num_layers': 2,
                     'model.backbone.arch.feedforward_channels': 64,
                     'model.backbone.frozen_stages': 2,
                     'model.decode_head.in_channels': 32,
                     'model.decode_head.channels': 32})
    # a "Leopart checkpoint": the backbone's weights under backbone.
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(LEOPART, config))
    cfg.merge_from_dict(dict(tiny, **{'model.backbone.init_cfg': None}))
    with DefaultScope.overwrite_default_scope('mmseg'):
        backbone = MODELS.build(cfg.model.backbone)
    ckpt = str(tmp_path / 'leopart.pth')
    init = {'backbone.' + k: v.clone()
            for k, v in backbone.state_dict().items()}
    torch.save(dict(state_dict=init), ckpt)
    opts = dict(tiny, **{
        'model.backbone.init_cfg.checkpoint': ckpt,
        'model.decode_head.norm_cfg.type': 'BN',
        'train_dataloader.dataset.ann_file':
        'ImageSets/Segmentation/train.txt',
        'train_dataloader.dataset.data_prefix.seg_map_path':
        'SegmentationClass',
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': voc,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'val_dataloader.dataset.data_root': voc,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': voc,
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'param_scheduler.0.milestones': [1],
    })
    run_tool('train', [osp.join(LEOPART, config), '--work-dir',
                       str(tmp_path / 'w'), '--cfg-options'] +
             format_options(opts))
    sd = torch.load(str(tmp_path / 'w' / 'iter_2.pth'), map_location='cpu',
                    weights_only=False)['state_dict']
    for k, v in init.items():
        if 'num_batches_tracked' not in k:
            assert torch.equal(sd[k], v), k
    assert any(k.startswith('decode_head.conv_seg') for k in sd)
