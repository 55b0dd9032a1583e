# Copyright (c) mmcast contributors. All rights reserved.
"""Small fake copies of PartImageNet and Pascal VOC (+ SBD aug) in the
layouts they are distributed in, for the evaluation tests."""
import json
import os
import os.path as osp

import cv2
import numpy as np

from mmcast.datasets.partimagenet import PARTS_BY_OBJECT

#: A tiny CAST / ViT for the hierarchy configs, as --cfg-options.
TINY_CAST = {
    'model.backbone.arch': dict(_delete_=True, embed_dims=32,
                                depths=[1, 1, 1, 1], num_heads=2),
    'model.backbone.pool_num_heads': 2,
}
TINY_VIT = {
    'model.backbone.arch': dict(_delete_=True, embed_dims=32, num_layers=2,
                                num_heads=2, feedforward_channels=64),
}
NO_WORKERS = {
    'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False,
}


def _shapes_image(rng, h, w, labels):
    """A colour image whose regions follow ``labels`` (one colour each)."""
    colours = rng.integers(0, 256, (256, 3))
    img = colours[labels].astype(np.float32)
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_partimagenet(root, split='test', num=3, size=(64, 80), seed=0,
                      with_json=True):
    """PartImageNet_Seg layout: images/<split>/*.JPEG, annotations/<split>/
    *.png (parts 0..39, 40 = background) and annotations/<split>.json."""
    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, 'images', split)
    ann_dir = osp.join(root, 'annotations', split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    h, w = size
    masks = []
    for i in range(num):
        parts = np.full((h, w), 40, np.uint8)  # background
        # A "quadruped" (parts 0..3: head, body, foot, tail) and a "car"
        # body (part 24) in every image.
        parts[10:40, 10:50] = 1
        parts[5:15, 45:60] = 0
        parts[40:50, 15:20] = 2
        parts[20:25, 5:10] = 3
        parts[45:60, 55:75] = 24
        name = f'n0144076{i}_{i}'
        cv2.imwrite(osp.join(img_dir, name + '.JPEG'),
                    _shapes_image(rng, h, w, parts))
        cv2.imwrite(osp.join(ann_dir, name + '.png'), parts)
        masks.append(parts)
    if with_json:
        cats, cid = [], 0
        for obj, parts in PARTS_BY_OBJECT:
            for p in parts:
                cats.append(dict(id=cid, name=f'{obj} {p}',
                                 supercategory=obj))
                cid += 1
        with open(osp.join(root, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(dict(categories=cats, images=[], annotations=[]), f)
    return masks


def make_voc(root, num_train=4, num_aug=4, num_val=3, size=(60, 80), seed=0):
    """VOC 2012 + SBD aug in mmseg's layout: JPEGImages, SegmentationClass,
    SegmentationClassAug, ImageSets/Segmentation/{train,aug,val}.txt."""
    rng = np.random.default_rng(seed)
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    for d in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
              'ImageSets/Segmentation'):
        os.makedirs(osp.join(voc, d), exist_ok=True)
    h, w = size
    lists = {}
    for split, num in (('train', num_train), ('aug', num_aug),
                       ('val', num_val)):
        names = []
        for i in range(num):
            label = np.zeros((h, w), np.uint8)  # background
            cls = 1 + (i % 3)  # aeroplane, bicycle, bird
            label[15:45, 20:60] = cls
            label[13:15, 20:60] = 255  # a void band on the boundary
            name = f'2007_{split}_{i:03d}'
            ann = 'SegmentationClassAug' if split == 'aug' else \
                'SegmentationClass'
            cv2.imwrite(osp.join(voc, 'JPEGImages', name + '.jpg'),
                        _shapes_image(rng, h, w, label))
            cv2.imwrite(osp.join(voc, ann, name + '.png'), label)
            names.append(name)
        lists[split] = names
        with open(osp.join(voc, 'ImageSets', 'Segmentation',
                           split + '.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return voc
