# Copyright (c) mmcast contributors. All rights reserved.
"""A release DeiT checkpoint converted with cast2mmcast.py gives the
release's class-token features inside mmpretrain's ImageClassifier, and
tools/test.py evaluates it on an ImageNet-layout validation folder."""
import glob
import json
import os.path as osp
import sys
from unittest import mock

import cv2
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from mmcast.datasets.transforms import Superpixels
from mmcast.models.utils.release_ckpt import release_backbone_cfg
from mmcast.registry import PRETRAIN_MODELS
from tests.conftest import load_tool, release_fixture_dir
from tests.pretrain_utils import (CONFIGS, format_options, in1k_wnids,
                                  make_imagenet, run_tool, val_options)

FIXTURE = osp.join(release_fixture_dir(), 'cast_release_deit_cls_small.pt')
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """The fixture and its checkpoint converted by the command-line tool."""
    if not osp.isfile(FIXTURE):
        pytest.skip(f'no fixture {FIXTURE}')
    fix = torch.load(FIXTURE, map_location='cpu', weights_only=False)
    tmp = tmp_path_factory.mktemp('release')
    src, dst = str(tmp / 'release.pth'), str(tmp / 'converted.pth')
    torch.save(fix['checkpoint'], src)
    tool = load_tool('tools/model_converters/cast2mmcast.py')
    with mock.patch.object(sys, 'argv', ['cast2mmcast.py', src, dst,
                                         '--prefix', 'backbone.']):
        tool.main()
    converted = torch.load(dst, map_location='cpu', weights_only=False)
    return fix, converted, dst


def classifier(fix, converted, num_classes):
    init_default_scope('mmpretrain')
    kwargs = fix['release_kwargs']
    backbone = release_backbone_cfg(converted['meta']['cast_release'],
                                    kwargs['num_heads'],
                                    kwargs['num_clusters'])
    model = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier',
        backbone=backbone,
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=kwargs['embed_dim']),
        data_preprocessor=dict(type='CASTClsDataPreProcessor', mean=MEAN,
                               std=STD, to_rgb=True)))
    missing, unexpected = model.load_state_dict(converted['state_dict'],
                                                strict=False)
    # the fixture has no head: a random one is added here
    assert sorted(missing) == ['head.fc.bias', 'head.fc.weight']
    assert not unexpected
    return model.eval()


def test_converted_checkpoint_gives_release_features(release):
    fix, converted, _ = release
    assert all(k.startswith('backbone.') for k in converted['state_dict'])
    model = classifier(fix, converted, num_classes=7)
    ref = fix['outputs']['features']
    sp = fix['superpixels'][:, None].float()
    with torch.no_grad():
        # the normalised image + superpixels the release saw
        feats = model.extract_feat(torch.cat([fix['image_normalized'], sp],
                                             1))
        assert (feats[0] - ref).abs().max() <= 1e-4
        pre_logits = model.head.pre_logits(feats)
        assert (pre_logits - ref).abs().max() <= 1e-4
        # the uint8 image through the data preprocessor (BGR in, as mmcv
        # loads it), then the whole classifier
        bgr = fix['image_uint8'].flip(-1).permute(0, 3, 1, 2).float()
        data = model.data_preprocessor(dict(
            inputs=torch.cat([bgr, sp], 1),
            data_samples=[DataSample() for _ in range(len(bgr))]))
        logits = model(data['inputs'], mode='tensor')
    w, b = model.head.fc.weight, model.head.fc.bias
    torch.testing.assert_close(logits, ref @ w.t() + b, atol=1e-4, rtol=0)
    assert (model.extract_feat(data['inputs'])[0] - ref).abs().max() <= 1e-4


def direct_features(model, paths):
    """Class-token features of val images, computed without the runner,
    dataset or evaluator: the config's test transforms (short side 73,
    centre crop 64, SEEDS), normalisation by hand, the backbone."""
    from mmpretrain.datasets.transforms import CenterCrop, ResizeEdge
    resize = ResizeEdge(scale=73, edge='short', backend='pillow',
                        interpolation='bicubic')
    crop = CenterCrop(crop_size=64)
    sp = Superpixels(preset='classification')
    feats = []
    for path in paths:
        results = sp(crop(resize(dict(img=cv2.imread(path)))))
        img = results['img'][..., :3]
        labels = torch.from_numpy(results['superpixels'])
        rgb = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)
        x_ = (rgb.float() - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(
            STD).view(3, 1, 1)
        with torch.no_grad():
            feats.append(model.backbone(x_[None], labels[None])[0][0])
    return torch.stack(feats)


def test_tools_test_gives_top1_of_release_checkpoint(release, tmp_path,
                                                     capsys):
    fix, converted, _ = release
    root = str(tmp_path / 'imagenet')
    val = make_imagenet(root, in1k_wnids(), used=3, per_class=3,
                        val_ann=True)
    model = classifier(fix, converted, num_classes=1000)
    feats = direct_features(model, [osp.join(root, 'val', n) for n, _ in val])
    labels = torch.tensor([lab for _, lab in val])
    # A head made from class means of the features (classes 0..2 only):
    # a classifier with a known, non-trivial outcome.
    weight = torch.zeros(1000, feats.shape[1])
    bias = torch.full((1000, ), -1e3)
    for c in range(3):
        weight[c] = torch.nn.functional.normalize(
            feats[labels == c].mean(0), dim=0)
        bias[c] = 0
    scores = feats @ weight.t() + bias
    expected = 100. * (scores.argmax(1) == labels).float().mean().item()
    ckpt = dict(converted)
    ckpt['state_dict'] = dict(converted['state_dict'],
                              **{'head.fc.weight': weight,
                                 'head.fc.bias': bias})
    path = str(tmp_path / 'classifier.pth')
    torch.save(ckpt, path)

    kwargs = fix['release_kwargs']
    opts = {
        'model.backbone.arch.embed_dims': kwargs['embed_dim'],
        'model.backbone.arch.depths': kwargs['depth'],
        'model.backbone.arch.num_heads': kwargs['num_heads'],
        'model.backbone.num_clusters': kwargs['num_clusters'],
        'model.backbone.img_size': 64,
        'model.head.in_channels': kwargs['embed_dim'],
        'test_dataloader.dataset.pipeline.1.scale': 73,
        'test_dataloader.dataset.pipeline.2.crop_size': 64,
        **val_options(root, batch=4),
    }
    work = str(tmp_path / 'work')
    run_tool('test', [osp.join(CONFIGS, 'cast_s_in1k_deit.py'), path,
                      '--work-dir', work, '--cfg-options'] +
             format_options(opts))
    logs = glob.glob(osp.join(work, '*', '*.json'))
    assert logs, 'tools/test.py logged no metrics'
    with open(logs[0]) as f:
        metrics = json.loads(f.readlines()[-1])
    top1 = metrics['accuracy/top1']
    assert 'accuracy/top1' in capsys.readouterr().out  # printed by the tool
    with capsys.disabled():
        print(f'\ntop-1 of the converted release checkpoint: {top1:.2f} '
              f'(computed directly: {expected:.2f})')
    assert top1 == pytest.approx(expected, abs=1e-3)
    assert 0 < top1
