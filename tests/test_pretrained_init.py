# Copyright (c) mmcast contributors. All rights reserved.
"""Starting a segmentor from released classification weights: the
documented --cfg-options command works, the checkpoint's weights load, and
the weights it lacks (the fusion) keep CAST's own initialisation."""
import argparse
import os.path as osp

import torch
from mmengine.registry import DefaultScope

from mmcast.apis.launch import add_launch_args, load_config
from mmcast.models import CAST
from tests.conftest import ROOT, load_tool, release_fixture_dir

TINY = dict(embed_dims=48, depths=[2, 1, 1, 1], num_heads=4)


def converted_deit_cls(tmp_path):
    """The DeiT classification fixture through the converter: the file a
    user starts a segmentor from (no fusion weights)."""
    fix = torch.load(osp.join(release_fixture_dir(),
                              'cast_release_deit_cls_small.pt'),
                     weights_only=False)
    src, dst = tmp_path / 'cast_deit.pth', tmp_path / 'cast_s_in1k.pth'
    torch.save(fix['checkpoint'], src)
    conv = load_tool('tools/model_converters/cast2mmcast.py')
    state = conv.convert(str(src), str(dst))['state_dict']
    assert not any(k.startswith('fusion.') for k in state)
    return str(dst), state


def test_cast_init_applies_to_weights_the_checkpoint_lacks(tmp_path):
    ckpt, state = converted_deit_cls(tmp_path)
    kwargs = dict(arch=TINY, img_size=64, num_clusters=[16, 8, 4, 2],
                  pos_embed='learned', token_pooling='full',
                  with_fusion=True, pool_num_heads=4)
    torch.manual_seed(3)
    plain = CAST(**kwargs)
    torch.manual_seed(4)
    plain.init_weights()
    torch.manual_seed(3)
    pretrained = CAST(**kwargs, init_cfg=dict(type='Pretrained',
                                              checkpoint=ckpt))
    torch.manual_seed(4)
    pretrained.init_weights()
    ours = pretrained.state_dict()
    # What the checkpoint holds is loaded ...
    for key, value in state.items():
        assert torch.equal(ours[key], value), key
    # ... and the fusion, which it lacks, got CAST's initialisation
    # (Xavier-uniform, zero bias), exactly as without a checkpoint.
    proj = pretrained.fusion.proj
    assert torch.equal(proj.weight, plain.fusion.proj.weight)
    assert torch.all(proj.bias == 0)
    bound = (6 / sum(proj.weight.shape))**0.5
    assert proj.weight.abs().max() <= bound
    assert proj.weight.std() > 0.8 * bound / 3**0.5  # not torch's default


def saved_cast_s_classifier(path):
    """A CAST-S classification backbone's weights (random, seeded), saved
    as the converter saves a release file: what the documented command
    starts from."""
    torch.manual_seed(7)
    backbone = CAST(arch='small', pos_embed='learned',
                    freeze_last_pool=True)
    backbone.init_weights()
    state = backbone.state_dict()
    torch.save(dict(state_dict=state), path)
    return state


def test_documented_pretrained_command(tmp_path):
    """docs/segmentation.md and configs/cast_s_ade20k.py: --cfg-options
    model.backbone.init_cfg.type=Pretrained
    model.backbone.init_cfg.checkpoint=... parses, merges and loads."""
    ckpt = str(tmp_path / 'cast_s_in1k.pth')
    state = saved_cast_s_classifier(ckpt)
    parser = argparse.ArgumentParser()
    add_launch_args(parser)
    args = parser.parse_args([
        '--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={ckpt}'])
    cfg = load_config(osp.join(ROOT, 'configs', 'cast_s_ade20k.py'),
                      args.cfg_options)
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained',
                                               checkpoint=ckpt)
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    ours = model.backbone.state_dict()
    for key, value in state.items():
        assert torch.equal(ours[key], value), key
    assert torch.all(model.backbone.fusion.proj.bias == 0)
