# Copyright (c) mmcast contributors. All rights reserved.
"""A LarvSeg config trains with tools/train.py on tiny fake copies of
COCO-Stuff 164k, ADE20K and ImageNet-21k folders in their real layouts,
and tools/test.py reports the split mIoU on the fake ADE20K val: the
ViT-B/16 and the CAST-B configs of the C171 + WA150 + I124 setting, with
CPU-sized backbones and crops (slow: ``pytest -m slow``, about a minute
each on an idle 2-core CPU)."""
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.test_larvseg_data import make_imagenet21k
from tests.test_seg_e2e import PY, make_ade20k, run, scene


def make_coco_stuff(root, n=4):
    """mmseg's COCO-Stuff 164k layout, labels 0..170 (255: none)."""
    rng = np.random.default_rng(2)
    for split in ('train2017', 'val2017'):
        os.makedirs(f'{root}/images/{split}', exist_ok=True)
        os.makedirs(f'{root}/annotations/{split}', exist_ok=True)
        for i in range(n):
            img, lab = scene(rng, 80, 96, 171, zero_is_ignore=False)
            name = f'{i:012d}'
            cv2.imwrite(f'{root}/images/{split}/{name}.jpg', img)
            cv2.imwrite(f'{root}/annotations/{split}/{name}'
                        '_labelTrainIds.png', lab)
    return root


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('larvseg_data')
    return dict(
        coco=make_coco_stuff(str(root / 'coco_stuff164k')),
        ade=make_ade20k(str(root / 'ade' / 'ADEChallengeData2016')),
        in21k=make_imagenet21k(
            str(root / 'imagenet21k'),
            [('n04380533', 'lamp'), ('n04256520', 'sofa'),
             ('n03001627', 'chair')]))


def tiny_config(config, tmp_path, cast):
    """The config with a CPU-sized backbone (everything else inherited)."""
    backbone = dict(arch=dict(_delete_=True, embed_dims=32,
                              depths=[1, 1, 1, 1], num_heads=2), img_size=64,
                    num_clusters=[16, 8, 4, 2], pool_num_heads=2) if cast \
        else dict(embed_dims=32, num_layers=2, num_heads=2, img_size=(64, 64))
    path = tmp_path / 'tiny.py'
    path.write_text(f"_base_ = [{osp.join(ROOT, config)!r}]\n"
                    f"model = dict(backbone={backbone!r})\n")
    return str(path)


def options(data, cast):
    """Point the config at the fake data and make it CPU-sized: 64 px
    crops (48 for ImageNet), 3 iterations of batch 2 (one per source with
    the 3:3:2 cycle)."""
    src = 'train_dataloader.dataset.sources'
    opts = [
        f'{src}.0.dataset.data_root={data["ade"]}',
        f'{src}.1.dataset.data_root={data["coco"]}',
        f'{src}.2.dataset.data_root={data["in21k"]}',
        f'test_dataloader.dataset.data_root={data["ade"]}',
        f'val_dataloader.dataset.data_root={data["ade"]}',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=2',
        'train_dataloader.sampler.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.dataset.pipeline.1.scale=(96,64)',
        'model.data_preprocessor.size=(64,64)',
        'model.test_cfg.crop_size=(64,64)', 'model.test_cfg.stride=(64,64)',
        'model.decode_head.in_channels=32', 'model.decode_head.channels=32',
        'model.decode_head.warmup=0',
    ]
    for i in (0, 1):
        opts += [f'{src}.{i}.dataset.pipeline.2.scale=(96,64)',
                 f'{src}.{i}.dataset.pipeline.3.crop_size=(64,64)']
    opts += [f'{src}.2.dataset.pipeline.1.scale=(48,48)',
             f'{src}.2.dataset.pipeline.2.crop_size=(48,48)']
    if cast:
        opts += ['train_dataloader.dataset.pipeline.0.stride=8',
                 'test_dataloader.dataset.pipeline.3.stride=8']
    return opts


def split_miou(text):
    found = re.findall(r'mIoU: ([0-9.]+)\s+mAcc: [0-9.]+\s+'
                       r'mIoU_base: ([0-9.na]+)\s+mIoU_novel: ([0-9.na]+)',
                       text)
    assert found, text[-3000:]
    return [float(v) for v in found[-1]]


def train_and_test(config, tmp_path, cast, data):
    config = tiny_config(config, tmp_path, cast)
    work_dir = str(tmp_path / 'wd')
    opts = options(data, cast)
    out = run([PY, 'tools/train.py', config, '--work-dir', work_dir,
               '--cfg-options'] + opts)
    # The mask source's batch reached the head (the others: loss_cls).
    assert re.search(r'loss_seg: (?!0\.0000)[0-9.]+', out), out[-3000:]
    assert re.search(r'loss_cls: (?!0\.0000)[0-9.]+', out), out[-3000:]
    ckpt = osp.join(work_dir, 'iter_3.pth')
    assert osp.exists(ckpt), out[-3000:]
    text = run([PY, 'tools/test.py', config, ckpt, '--work-dir', work_dir,
                '--cfg-options'] + opts)
    scores = split_miou(text)
    assert all(np.isnan(v) or 0 <= v <= 100 for v in scores), scores
    assert '87 novel classes' in text
    return scores


@pytest.mark.slow
def test_vit_larvseg_trains_on_real_layouts_and_tests_split(data, tmp_path):
    train_and_test('configs/larvseg/larvseg_vit-b16_c171-wa150-i124_a150.py',
                   tmp_path, False, data)


@pytest.mark.slow
def test_cast_larvseg_trains_on_real_layouts_and_tests_split(data,
                                                             tmp_path):
    train_and_test('configs/larvseg/larvseg_cast-b_c171-wa150-i124_a150.py',
                   tmp_path, True, data)
