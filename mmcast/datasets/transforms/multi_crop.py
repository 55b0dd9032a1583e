# Copyright (c) mmcast contributors. All rights reserved.
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, Compose

from mmcast.registry import register_transform


def sample_crop(height: int, width: int, scale: Tuple[float, float],
                ratio: Tuple[float, float],
                rng=np.random) -> Tuple[int, int, int, int]:
    """A random-resized-crop box ``(x1, y1, x2, y2)`` in pixels.

    Area share uniform in ``scale``, aspect ratio log-uniform in ``ratio``
    (ten tries, then the largest centred crop within the ratio range), as
    torchvision's ``RandomResizedCrop`` samples.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            y = int(rng.randint(0, height - h + 1))
            x = int(rng.randint(0, width - w + 1))
            return x, y, x + w, y + h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    x, y = (width - w) // 2, (height - h) // 2
    return x, y, x + w, y + h


def intersection_area(box: Sequence[float],
                      others: np.ndarray) -> np.ndarray:
    """Area of ``box`` shared with each of ``others`` ``(n, 4)``."""
    others = np.asarray(others, np.float64).reshape(-1, 4)
    w = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    h = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


@register_transform
class MultiCropWithBoxes(BaseTransform):
    """Multi-crop views that remember where they come from (registered in
    mmpretrain and mmseg).

    Leopart's crops: ``num_crops[i]`` random resized crops of side
    ``crop_sizes[i]`` (by default 2 global crops of 224 taking 25-100 % of
    the image and 4 local crops of 96 taking 5-25 %).  Every crop after the
    first is re-sampled until it shares at least ``min_intersection`` of
    the image's area with each global crop sampled before it (twice that
    between two global crops), so that each global crop overlaps every
    other crop.  Each crop then goes through ``view_pipeline`` on its own:
    the photometric augmentations, and for CAST ``Superpixels`` last, so
    that every crop carries the superpixels of what the network sees.  No
    flip: the boxes stay valid.

    Required keys: ``img``. Modified keys: ``img`` (a list of the ``V``
    crops, global first), ``img_shape``. Added keys: ``crop_boxes``
    (``(V, 4)`` float32, ``(x1, y1, x2, y2)`` of each crop in the input
    image's pixels; pack it with ``PackInputs(algorithm_keys=
    ['crop_boxes'])``).

    Args:
        crop_sizes (Sequence[int]): output side per crop kind.
        num_crops (Sequence[int]): crops per kind; the first kind is the
            global one.
        scales (Sequence[tuple]): area share range per kind.
        ratio (tuple): aspect ratio range. Defaults to (3/4, 4/3).
        min_intersection (float): least shared area with the global crops,
            as a share of the image. Defaults to 0.01.
        max_tries (int): re-samplings before giving up on the overlap (the
            crop is then kept; the loss ignores crop pairs that do not
            overlap). Defaults to 100.
        view_pipeline (list[dict], optional): transforms of every crop.
        interpolation (str): ``'bilinear'`` (default), ``'bicubic'`` or
            ``'area'``.
    """
    INTERPOLATIONS = dict(bilinear=cv2.INTER_LINEAR,
                          bicubic=cv2.INTER_CUBIC, area=cv2.INTER_AREA)

    def __init__(self,
                 crop_sizes: Sequence[int] = (224, 96),
                 num_crops: Sequence[int] = (2, 4),
                 scales: Sequence[Tuple[float, float]] = ((0.25, 1.),
                                                          (0.05, 0.25)),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 min_intersection: float = 0.01,
                 max_tries: int = 100,
                 view_pipeline: Optional[List[dict]] = None,
                 interpolation: str = 'bilinear'):
        if not len(crop_sizes) == len(num_crops) == len(scales):
            raise ValueError('crop_sizes, num_crops and scales need one '
                             'entry per crop kind')
        if not 0 <= min_intersection < 1:
            raise ValueError('min_intersection must be in [0, 1), got '
                             f'{min_intersection}')
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(self.INTERPOLATIONS)}')
        self.crop_sizes = list(crop_sizes)
        self.num_crops = list(num_crops)
        self.scales = [tuple(s) for s in scales]
        self.ratio = tuple(ratio)
        self.min_intersection = min_intersection
        self.max_tries = max_tries
        self.view_pipeline = Compose(view_pipeline or [])
        self.interpolation = interpolation
        # (size, scale) of every crop, in order
        self.crops = [(size, scale) for size, n, scale in zip(
            crop_sizes, num_crops, self.scales) for _ in range(n)]

    def sample_boxes(self, height: int, width: int) -> np.ndarray:
        """The ``(V, 4)`` crop boxes of one image."""
        num_global = self.num_crops[0]
        boxes = []
        for i, (_, scale) in enumerate(self.crops):
            previous = np.asarray(boxes[:num_global], np.float64)
            need = self.min_intersection * height * width
            if i < num_global:
                need *= 2
            for _ in range(self.max_tries):
                box = sample_crop(height, width, scale, self.ratio)
                if not len(previous) or \
                        (intersection_area(box, previous) > need).all():
                    break
            boxes.append(box)
        return np.asarray(boxes, np.float32)

    def transform(self, results: dict) -> dict:
        img = results['img']
        H, W = img.shape[:2]
        boxes = self.sample_boxes(H, W)
        crops = []
        for (size, _), (x1, y1, x2, y2) in zip(self.crops, boxes.astype(int)):
            patch = cv2.resize(img[y1:y2, x1:x2], (size, size),
                               interpolation=self.INTERPOLATIONS[
                                   self.interpolation])
            view = dict(results, img=patch, img_shape=(size, size))
            view.pop('superpixels', None)
            crops.append(self.view_pipeline(view)['img'])
        results['img'] = crops
        results['img_shape'] = [c.shape[:2] for c in crops]
        results['crop_boxes'] = boxes
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(crop_sizes={self.crop_sizes}, '
                f'num_crops={self.num_crops}, scales={self.scales}, '
                f'min_intersection={self.min_intersection})')
