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
