# Copyright (c) mmcast contributors. All rights reserved.
"""A small procedural scene dataset in ADE20K's directory layout.

It lets the whole segmentation path (superpixels, CAST, training, testing,
the hierarchy) run on a CPU in minutes, with no download.  Each image shows
a sky and a ground with a few objects; classes differ in colour range,
texture and shape, and their boundaries are sharp enough for SEEDS::

    root/images/{training,validation}/scene_00000.jpg
    root/annotations/{training,validation}/scene_00000.png   (0 = other,
        1..5 = the classes below; ADE20K's ``reduce_zero_label`` applies)
"""
import contextlib
import os
import os.path as osp

import cv2
import numpy as np
from mmseg.datasets import BaseSegDataset

from mmcast.registry import register_seg_dataset

CLASSES = ('sky', 'ground', 'disc', 'box', 'triangle')
PALETTE = [[70, 130, 180], [120, 100, 60], [220, 40, 40], [240, 200, 40],
           [150, 60, 200]]


@register_seg_dataset
class ToyScenesDataset(BaseSegDataset):
    """The procedural scenes of :func:`generate_toy_scenes` (ADE20K
    layout, ``.jpg`` images, ``.png`` labels, ``reduce_zero_label``)."""
    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, img_suffix='.jpg', seg_map_suffix='.png',
                 reduce_zero_label=True, **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


def _texture(rng, shape, kind):
    """A (H, W) texture in [-1, 1]."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    if kind == 'noise':
        t = rng.normal(0, 1, (H // 4 + 1, W // 4 + 1)).astype(np.float32)
        return np.clip(cv2.resize(t, (W, H)), -2, 2) / 2
    if kind == 'stripes':
        period = rng.uniform(5, 9)
        angle = rng.uniform(0, np.pi)
        return np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle))
                      / period)
    if kind == 'checker':
        c = int(rng.integers(5, 8))
        return np.where(((yy // c) + (xx // c)) % 2 == 0, 1., -1.)
    if kind == 'rings':
        cy, cx = rng.uniform(0, H), rng.uniform(0, W)
        return np.sin(np.hypot(yy - cy, xx - cx) / 2.5)
    return np.zeros((H, W), np.float32)  # smooth


def render_scene(rng, size=128):
    """One image (BGR uint8) and its label map (uint8, 0..5)."""
    H = W = size
    img = np.zeros((H, W, 3), np.float32)
    label = np.zeros((H, W), np.uint8)
    horizon = int(rng.uniform(0.35, 0.6) * H)
    yy = np.mgrid[0:H, 0:W][0].astype(np.float32)
    # Sky: smooth vertical gradient of blue.
    sky = np.array([200, 140, 80], np.float32)[None, None]  # BGR
    img[:] = sky * (0.7 + 0.5 * yy[..., None] / H)
    label[:horizon] = 1
    # Ground: brown-green, noisy.
    ground = np.array([50, 110, 120], np.float32)
    tex = _texture(rng, (H, W), 'noise')[..., None]
    img[horizon:] = (ground * (1 + 0.25 * tex))[horizon:]
    label[horizon:] = 2
    # Objects: discs (red, rings), boxes (yellow, stripes), triangles
    # (purple, checker).
    kinds = [(3, (40, 40, 220), 'rings'), (4, (40, 200, 240), 'stripes'),
             (5, (200, 60, 150), 'checker')]
    for _ in range(int(rng.integers(2, 5))):
        cls, colour, tex_kind = kinds[int(rng.integers(0, 3))]
        mask = np.zeros((H, W), np.uint8)
        r = int(rng.uniform(0.09, 0.2) * size)
        cy = int(rng.uniform(r, H - r))
        cx = int(rng.uniform(r, W - r))
        if cls == 3:
            cv2.circle(mask, (cx, cy), r, 1, -1)
        elif cls == 4:
            h = int(r * rng.uniform(0.7, 1.3))
            cv2.rectangle(mask, (cx - r, cy - h), (cx + r, cy + h), 1, -1)
        else:
            pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]],
                           np.int32)
            cv2.fillPoly(mask, [pts], 1)
        tex = _texture(rng, (H, W), tex_kind)[..., None]
        shade = np.array(colour, np.float32) * rng.uniform(0.8, 1.1)
        obj = shade * (1 + 0.3 * tex)
        m = mask.astype(bool)
        img[m] = obj[m]
        label[m] = cls
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), label


def toy_samples(num, size=128, seed=0, stride=8):
    """Toy scenes in memory, for the toy demonstrations.

    Args:
        num (int): scenes.
        size (int): image side.
        seed (int): the scenes are those of ``np.random.default_rng(seed)``.
        stride (int): the superpixels are the ``stride`` x ``stride`` grid.

    Returns:
        list[dict]: ``img`` (size, size, 3) uint8 BGR, ``gt`` (size, size)
        int64 class ids 0..4 (-1: none), ``sp`` (size, size) superpixels,
        ``labels`` the object classes (0, 1, 2: disc, box, triangle) with
        at least 20 pixels.
    """
    from mmcast.datasets.transforms import Superpixels
    rng = np.random.default_rng(seed)
    superpixels = Superpixels(stride=stride, append_to_img=False)
    out = []
    for _ in range(num):
        img, label = render_scene(rng, size)
        present = [i for i, cls in enumerate((3, 4, 5))
                   if (label == cls).sum() >= 20]
        out.append(dict(img=img, gt=label.astype(np.int64) - 1,
                        sp=superpixels(dict(img=img))['superpixels'],
                        labels=present))
    return out


def generate_toy_scenes(root, num_train=300, num_val=50, size=128, seed=0,
                        overwrite=False, progress=False):
    """Write the dataset under ``root`` (ADE20K layout); deterministic.

    Args:
        progress (bool): show a progress bar over the images (a
            :class:`~mmcast.engine.PhaseBar` on ``sys.stdout``).

    Returns:
        str: ``root``.
    """
    done = osp.join(root, '.complete')
    if osp.exists(done) and not overwrite:
        return root
    rng = np.random.default_rng(seed)
    total = num_train + num_val
    bar = contextlib.nullcontext()
    if progress:
        from mmcast.engine import PhaseBar
        print(f'generating {total} toy scenes in {root}')
        bar = PhaseBar('data', total, 'images')
    with bar:
        for split, count in (('training', num_train), ('validation',
                                                        num_val)):
            img_dir = osp.join(root, 'images', split)
            ann_dir = osp.join(root, 'annotations', split)
            os.makedirs(img_dir, exist_ok=True)
            os.makedirs(ann_dir, exist_ok=True)
            for i in range(count):
                img, label = render_scene(rng, size)
                name = f'scene_{i:05d}'
                cv2.imwrite(osp.join(img_dir, name + '.jpg'), img,
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
                cv2.imwrite(osp.join(ann_dir, name + '.png'), label)
                if progress:
                    bar.advance()
    with open(done, 'w') as f:
        f.write(f'{num_train} {num_val} {size} {seed}\n')
    return root
