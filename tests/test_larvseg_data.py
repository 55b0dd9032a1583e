# Copyright (c) mmcast contributors. All rights reserved.
"""LarvSeg's data side: image-level labels from masks, their data-sample
field through collate and the preprocessors, the multi-source dataset's
label mapping, the one-source-per-batch sampler (also as two ranks) and
the ImageNet-21k folder source."""
import os
import os.path as osp
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcast  # noqa: F401
from mmcast.datasets import (ImageLabelFolderDataset, MultiSourceSegDataset,
                             generate_toy_scenes)
from mmcast.datasets.samplers import MultiSourceSampler, interleave
from mmcast.datasets.transforms import (MaskToImageLabels,
                                        PackSegInputsWithImageLabels)
from mmcast.models.data_preprocessors import CASTSegDataPreProcessor

TOY = ('sky', 'ground', 'disc', 'box', 'triangle')


@pytest.fixture(autouse=True)
def _mmseg_scope():
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def test_mask_to_image_labels_drops_ignore_small_classes_and_the_mask():
    mask = np.full((4, 5), 255, np.uint8)
    mask[0, :3] = 7  # 3 pixels
    mask[1:, :] = 2  # 15 pixels
    mask[0, 4] = 0  # 1 pixel
    results = dict(gt_seg_map=mask, seg_fields=['gt_seg_map'])
    out = MaskToImageLabels(min_pixels=2)(dict(results))
    assert out['gt_image_labels'].tolist() == [2, 7]
    assert 'gt_seg_map' not in out and out['seg_fields'] == []
    keep = MaskToImageLabels(keep_mask=True)(
        dict(gt_seg_map=mask, seg_fields=['gt_seg_map']))
    assert keep['gt_image_labels'].tolist() == [0, 2, 7]
    assert 'gt_seg_map' in keep
    with pytest.raises(KeyError, match='LoadAnnotations'):
        MaskToImageLabels()(dict(img=np.zeros((2, 2, 3))))


def test_image_labels_field_survives_collate_and_cast_preprocessor():
    pack = PackSegInputsWithImageLabels()
    rng = np.random.default_rng(0)
    batch = []
    for h, w, labels in ((10, 12, [3, 1]), (8, 12, None)):
        img = rng.integers(0, 255, (h, w, 4)).astype(np.uint8)
        img[..., 3] = np.arange(h * w).reshape(h, w) % 5  # superpixels
        results = dict(img=img, img_shape=(h, w), ori_shape=(h, w))
        if labels is not None:
            results['gt_image_labels'] = np.array(labels)
        else:
            results['gt_seg_map'] = np.ones((h, w), np.uint8)
        batch.append(pack(results))
    data = pseudo_collate(batch)
    pre = CASTSegDataPreProcessor(mean=[0, 0, 0], std=[1, 1, 1],
                                  size=(16, 16))
    out = pre(data, training=True)
    s0, s1 = out['data_samples']
    assert out['inputs'].shape == (2, 4, 16, 16)
    assert s0.gt_image_labels.tolist() == [3, 1]
    assert s0.gt_image_labels.dtype == torch.int64
    assert 'gt_image_labels' not in s1 and 'gt_sem_seg' not in s0
    assert s1.gt_sem_seg.data.shape == (1, 16, 16)
    assert tuple(s0.img_shape) == (10, 12)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('larvseg_toy'))
    generate_toy_scenes(osp.join(root, 'masks'), 6, 0, 48, seed=1)
    generate_toy_scenes(osp.join(root, 'labels'), 4, 0, 48, seed=2)
    return root


def toy_sources(root, class_map=None):
    load = [dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True)]
    prefix = dict(img_path='images/training',
                  seg_map_path='annotations/training')
    masks = dict(name='masks',
                 dataset=dict(type='ToyScenesDataset',
                              data_root=osp.join(root, 'masks'),
                              data_prefix=prefix,
                              metainfo=dict(classes=('sky', 'ground',
                                                     'disc')),
                              pipeline=load))
    if class_map:
        masks['class_map'] = class_map
    labels = dict(name='labels',
                  dataset=dict(type='ToyScenesDataset',
                               data_root=osp.join(root, 'labels'),
                               data_prefix=prefix,
                               pipeline=load + [dict(
                                   type='MaskToImageLabels')]))
    return [masks, labels]


def raw_label(path):
    """The toy label png as the dataset reads it (0 -> ignore, k -> k-1)."""
    lab = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.int64) - 1
    lab[lab < 0] = 255
    return lab


def test_multi_source_dataset_maps_every_source_into_the_union(toy_root):
    union = ('triangle', 'box', 'disc', 'ground', 'sky', 'terrain')
    ds = MultiSourceSegDataset(
        toy_sources(toy_root, class_map=dict(ground='terrain')),
        classes=union)
    assert ds.metainfo['classes'] == union
    assert ds.summary() == dict(masks=6, labels=4)
    # masks: sky, ground, disc -> union ids 4, 5 (ground -> terrain), 2;
    # box and triangle are outside the subset: ignored.
    seg_lut = {0: 4, 1: 5, 2: 2, 3: 255, 4: 255, 255: 255}
    for i in range(6):
        sample = ds[i]['data_samples']
        assert sample.source == 'masks'
        assert sample.source_classes == [2, 4, 5]
        raw = raw_label(sample.seg_map_path)
        want = np.vectorize(seg_lut.get)(raw)
        assert np.array_equal(sample.gt_sem_seg.data[0].numpy(), want)
        assert 'gt_image_labels' not in sample
    # labels: the five toy classes in order -> 4, 3, 2, 1, 0.
    img_lut = np.array([4, 3, 2, 1, 0])
    for i in range(6, 10):
        sample = ds[i]['data_samples']
        assert sample.source == 'labels'
        assert 'gt_sem_seg' not in sample
        raw = raw_label(sample.seg_map_path)
        want = sorted(img_lut[np.unique(raw[raw != 255])].tolist())
        assert sample.gt_image_labels.tolist() == want
    # Default union: the sources' classes in order.
    auto = MultiSourceSegDataset(toy_sources(toy_root))
    assert auto.metainfo['classes'] == TOY


def test_multi_source_dataset_errors(toy_root, tmp_path):
    sources = toy_sources(toy_root)
    with pytest.raises(ValueError, match=r"classes not in the union.*box"):
        MultiSourceSegDataset(sources, classes=('sky', 'ground', 'disc'))
    with pytest.raises(ValueError, match='does not have'):
        MultiSourceSegDataset(toy_sources(toy_root, dict(tree='plant')))
    sources[0]['dataset']['data_root'] = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError) as err:
        MultiSourceSegDataset(sources)
    msg = str(err.value)
    assert '\n' not in msg and "'masks'" in msg and 'nowhere' in msg
    coco = dict(name='c171', dataset=dict(
        type='COCOStuffDataset', data_root=str(tmp_path),
        data_prefix=dict(img_path='images/train2017')))
    with pytest.raises(FileNotFoundError, match='labelTrainIds'):
        MultiSourceSegDataset([coco])


def test_interleave_spreads_sources_by_ratio():
    assert interleave([1, 1]) == [0, 1]
    assert interleave([3, 3, 2]) == [0, 1, 2, 0, 1, 2, 0, 1]
    assert interleave([2, 1]) == [0, 1, 0]
    assert interleave([0, 1]) == [1]
    with pytest.raises(ValueError):
        interleave([0, 0])


class _Concat:
    """A stand-in concatenated dataset: sizes 5, 7 and 4."""
    cumulative_sizes = [5, 12, 16]

    def source_of(self, idx):
        return int(np.searchsorted(self.cumulative_sizes, idx, 'right'))


def take(sampler, n):
    it = iter(sampler)
    return [next(it) for _ in range(n)]


def test_sampler_keeps_each_batch_to_one_source():
    ds = _Concat()
    sampler = MultiSourceSampler(ds, batch_size=3, source_ratio=[1, 2, 1],
                                 seed=0)
    idx = take(sampler, 3 * 40)
    batches = [idx[i:i + 3] for i in range(0, len(idx), 3)]
    sources = [{ds.source_of(i) for i in b} for b in batches]
    assert all(len(s) == 1 for s in sources)
    # The cycle of ratio 1:2:1 is [1, 0, 2, 1].
    assert [s.pop() for s in sources[:8]] == [1, 0, 2, 1] * 2
    # Within a source, a pass visits every sample once.
    src0 = [i for b in batches for i in b if ds.source_of(i) == 0]
    assert sorted(src0[:5]) == [0, 1, 2, 3, 4]


def test_sampler_under_two_ranks_splits_sources_and_samples():
    ds = _Concat()
    streams = {}
    for rank in (0, 1):
        with mock.patch(
                'mmcast.datasets.samplers.multi_source_sampler.'
                'get_dist_info', return_value=(rank, 2)):
            sampler = MultiSourceSampler(ds, batch_size=2,
                                         source_ratio=[1, 1, 0], seed=3)
        streams[rank] = take(sampler, 2 * 6)
    for rank, idx in streams.items():
        batches = [idx[i:i + 2] for i in range(0, len(idx), 2)]
        # Ratio 1:1 on two ranks: rank 0 always source 0, rank 1 source 1
        # (the paper's GPU split).
        assert all(ds.source_of(i) == rank for b in batches for i in b)
    # One pass of source 1 (7 samples): the ranks' shares are disjoint.
    first = streams[1][:3]
    with mock.patch(
            'mmcast.datasets.samplers.multi_source_sampler.get_dist_info',
            return_value=(0, 2)):
        other = MultiSourceSampler(ds, batch_size=2, source_ratio=[0, 1, 0],
                                   seed=3)
    second = take(other, 4)
    assert not set(first) & set(second)
    assert set(first) | set(second) == set(range(5, 12))


def test_sampler_checks_its_dataset():
    with pytest.raises(TypeError, match='concatenated'):
        MultiSourceSampler(list(range(4)), batch_size=2)
    with pytest.raises(ValueError, match='entries'):
        MultiSourceSampler(_Concat(), batch_size=2, source_ratio=[1, 1])


def make_imagenet21k(root, classes, per_class=2, size=(40, 30)):
    """ImageNet-21k class folders and the class file."""
    rng = np.random.default_rng(0)
    lines = []
    for wnid, name in classes:
        os.makedirs(osp.join(root, 'fall11_whole', wnid), exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 255, (*size, 3)).astype(np.uint8)
            cv2.imwrite(osp.join(root, 'fall11_whole', wnid,
                                 f'{wnid}_{i}.JPEG'), img)
        lines.append(f'{wnid} {name}')
    with open(osp.join(root, 'i124_classes.txt'), 'w') as f:
        f.write('# wnid class\n' + '\n'.join(lines) + '\n')
    return root


def test_image_label_folder_dataset(tmp_path):
    root = make_imagenet21k(
        str(tmp_path), [('n001', 'chest of drawers'), ('n002', 'lamp'),
                        ('n003', 'lamp')])
    ds = ImageLabelFolderDataset(
        class_file='i124_classes.txt', data_root=root,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackSegInputsWithImageLabels')])
    assert ds.metainfo['classes'] == ('chest of drawers', 'lamp')
    assert len(ds) == 6
    labels = [ds[i]['data_samples'].gt_image_labels.tolist()
              for i in range(6)]
    assert labels == [[0], [0], [1], [1], [1], [1]]
    with pytest.raises(FileNotFoundError, match='class file'):
        ImageLabelFolderDataset(class_file='missing.txt', data_root=root)
    with open(osp.join(root, 'bad.txt'), 'w') as f:
        f.write('n009 vase\n')
    with pytest.raises(FileNotFoundError, match='n009'):
        ImageLabelFolderDataset(class_file='bad.txt', data_root=root)


def test_packed_sample_keeps_labels_with_a_mask():
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 2, 2, dtype=torch.long))
    sample.gt_image_labels = torch.tensor([1])
    assert sample.to('cpu').gt_image_labels.tolist() == [1]
