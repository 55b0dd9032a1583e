# Copyright (c) mmcast contributors. All rights reserved.
"""Small generated data sets in ImageNet's and COCO's layouts, tiny-model
overrides and an in-process runner of tools/train.py / tools/test.py."""
import os
import os.path as osp
import sys
from unittest import mock

import cv2
import numpy as np

from tests.conftest import ROOT, load_tool

CONFIGS = osp.join(ROOT, 'configs')
IN100 = osp.join(CONFIGS, '_base_', 'datasets', 'imagenet100_classes.txt')


def photos():
    """A few natural BGR photos of scikit-image (real edges for SEEDS)."""
    from skimage import data
    imgs = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    return [cv2.cvtColor(np.ascontiguousarray(i), cv2.COLOR_RGB2BGR)
            for i in imgs]


def random_crop(rng, img, size):
    H, W = img.shape[:2]
    s = int(rng.integers(min(H, W) // 2, min(H, W) + 1))
    y, x = rng.integers(0, H - s + 1), rng.integers(0, W - s + 1)
    return cv2.resize(img[y:y + s, x:x + s], (size, size),
                      interpolation=cv2.INTER_AREA)


def write_images(folder, names, rng, size=80):
    os.makedirs(folder, exist_ok=True)
    src = photos()
    for i, name in enumerate(names):
        img = random_crop(rng, src[int(rng.integers(len(src)))], size)
        cv2.imwrite(osp.join(folder, name), img)


def make_imagenet(root, wnids, used=2, per_class=2, val_ann=True, seed=0):
    """ImageNet's layout: ``train/<wnid>/*.JPEG`` for every wnid (only the
    first ``used`` hold images); val either flat with ``meta/val.txt``
    (labels in sorted-wnid order) or as ``val/<wnid>/*.JPEG``.

    Returns:
        list[tuple[str, int]]: the val images and their labels.
    """
    rng = np.random.default_rng(seed)
    wnids = sorted(wnids)
    val = []
    for label, wnid in enumerate(wnids):
        os.makedirs(osp.join(root, 'train', wnid), exist_ok=True)
        if label >= used:
            if not val_ann:
                os.makedirs(osp.join(root, 'val', wnid), exist_ok=True)
            continue
        write_images(osp.join(root, 'train', wnid),
                     [f'{wnid}_{i}.JPEG' for i in range(per_class)], rng)
        names = [f'ILSVRC2012_val_{label:04d}{i:04d}.JPEG'
                 for i in range(per_class)]
        if val_ann:
            write_images(osp.join(root, 'val'), names, rng)
            val += [(n, label) for n in names]
        else:
            write_images(osp.join(root, 'val', wnid), names, rng)
            val += [(osp.join(wnid, n), label) for n in names]
    if val_ann:
        os.makedirs(osp.join(root, 'meta'), exist_ok=True)
        with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
            f.writelines(f'{n} {lab}\n' for n, lab in val)
    return val


def in1k_wnids(n=1000):
    return [f'n{i:08d}' for i in range(n)]


def in100_wnids():
    with open(IN100) as f:
        return [line.strip() for line in f if line.strip()]


def make_coco(root, n=4, seed=0):
    write_images(osp.join(root, 'train2017'),
                 [f'{i:012d}.jpg' for i in range(n)],
                 np.random.default_rng(seed))


TINY_BACKBONE = {
    'model.backbone.arch.embed_dims': 32,
    'model.backbone.arch.depths': [1, 1, 1, 1],
    'model.backbone.arch.num_heads': 2,
    'model.backbone.pool_num_heads': 2,
}


def schedule_options(data_root, batch=2, epochs=1):
    return {
        'train_dataloader.batch_size': batch,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': data_root,
        'train_cfg.max_epochs': epochs,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'randomness.seed': 0,
    }


def val_options(data_root, batch=2):
    return {
        f'{k}_dataloader.{opt}': v
        for k in ('val', 'test')
        for opt, v in (('batch_size', batch), ('num_workers', 0),
                       ('persistent_workers', False),
                       ('dataset.data_root', data_root))
    }


def format_options(options):
    out = []
    for k, v in options.items():
        if isinstance(v, (list, tuple)):
            v = '[' + ','.join(map(str, v)) + ']'
        out.append(f'{k}={v}')
    return out


def run_tool(tool, argv):
    """Run ``tools/<tool>.py`` in this process with ``argv``."""
    module = load_tool(f'tools/{tool}.py')
    with mock.patch.object(sys, 'argv', [f'tools/{tool}.py'] + argv):
        module.main()
