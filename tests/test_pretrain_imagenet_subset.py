# Copyright (c) mmcast contributors. All rights reserved.
"""ImageNetSubset: the IN-100 class list read from the IN-1K folders."""
import os
import os.path as osp

import numpy as np
import pytest

from mmcast.datasets import ImageNetSubset
from tests.pretrain_utils import IN100, in100_wnids, write_images


def test_in100_list_is_the_papers():
    wnids = in100_wnids()
    assert len(wnids) == len(set(wnids)) == 100
    assert wnids[:3] == ['n02869837', 'n01749939', 'n02488291']
    shared = osp.join(osp.dirname(IN100), *['..'] * 4, 'shared', 'data',
                      'imagenet100.txt')  # the project's copy, if present
    if osp.isfile(shared):
        with open(shared) as f:
            assert [w.strip() for w in f if w.strip()] == wnids


def test_subset_reads_listed_folders_with_sorted_labels(tmp_path):
    rng = np.random.default_rng(0)
    for wnid, n in (('n03', 1), ('n01', 2), ('n02', 1)):
        write_images(str(tmp_path / 'train' / wnid),
                     [f'{wnid}_{i}.JPEG' for i in range(n)], rng, size=16)
    ds = ImageNetSubset(classes=['n03', 'n01'], data_root=str(tmp_path),
                        split='train')
    assert ds.CLASSES == ('n01', 'n03')
    got = sorted((osp.basename(d['img_path']), d['gt_label'])
                 for d in ds.load_data_list())
    assert got == [('n01_0.JPEG', 0), ('n01_1.JPEG', 0), ('n03_0.JPEG', 1)]


def test_subset_from_the_class_file_and_missing_folder(tmp_path):
    os.makedirs(tmp_path / 'val')
    with pytest.raises(FileNotFoundError, match='n0'):
        ImageNetSubset(classes=IN100, data_root=str(tmp_path), split='val')


def flat_imagenet(root, wnids, used, train_list=False):
    """ImageNet as mmpretrain documents it: ``train/<wnid>/`` per class
    (or ``meta/train.txt``), a flat ``val/`` and ``meta/val.txt`` with
    ImageNet-1K labels (ranks of the sorted wnids).  Two val images for
    each of the classes in ``used``."""
    rng = np.random.default_rng(0)
    wnids = sorted(wnids)
    lines, expected = [], []
    for label, wnid in enumerate(wnids):
        if not train_list:
            os.makedirs(osp.join(root, 'train', wnid))
        if wnid in used:
            names = [f'ILSVRC2012_val_{label:04d}{i}.JPEG' for i in range(2)]
            write_images(osp.join(root, 'val'), names, rng, size=16)
            lines += [f'{n} {label}' for n in names]
            expected += [(n, wnid) for n in names]
    os.makedirs(osp.join(root, 'meta'))
    with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    if train_list:
        with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
            f.writelines(f'{w}/{w}_1.JPEG {i}\n' for i, w in enumerate(wnids))
    return expected


@pytest.mark.parametrize('train_list', [False, True])
def test_subset_reads_the_flat_val_layout(tmp_path, train_list):
    wnids = ['n05', 'n01', 'n03', 'n02', 'n04']
    expected = flat_imagenet(str(tmp_path), wnids, {'n02', 'n03', 'n05'},
                             train_list)
    ds = ImageNetSubset(classes=['n05', 'n02'], data_root=str(tmp_path),
                        split='val')
    assert ds.CLASSES == ('n02', 'n05')
    got = sorted((osp.basename(d['img_path']), d['gt_label'])
                 for d in ds.load_data_list())
    # Only the listed classes; IN-1K labels 1 and 4 become 0 and 1.
    assert got == sorted((n, ds.CLASSES.index(w)) for n, w in expected
                         if w in ('n02', 'n05'))
    assert len(got) == 4
    assert all(osp.dirname(d['img_path']) == str(tmp_path / 'val')
               for d in ds.load_data_list())


def test_in100_config_reads_the_flat_val_layout(tmp_path):
    """docs/datasets.md: the IN-100 configs read ImageNet's standard
    validation layout."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS
    wnids = in100_wnids()
    outside = ['n00000001', 'n99999999']
    used = set(sorted(wnids)[:2]) | set(outside)
    flat_imagenet(str(tmp_path), wnids + outside, used)
    cfg = Config.fromfile(osp.join(osp.dirname(IN100), '..', '..',
                                   'cast_s_linear_in100.py'))
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.data_root = str(tmp_path)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = DATASETS.build(ds_cfg)
    assert len(ds) == 4  # 2 images of 2 IN-100 classes, none of the others
    labels = sorted(ds.get_data_info(i)['gt_label'] for i in range(4))
    assert labels == [0, 0, 1, 1]
