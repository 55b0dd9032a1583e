# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmcast.registry import register_transform

CONTRIB_MISSING = (
    'cv2.ximgproc is missing: the OpenCV that "import cv2" finds ({path}) is '
    'not the contrib build that has SEEDS/SLIC superpixels; run "pip '
    'uninstall -y opencv-python opencv-python-headless && pip install '
    'opencv-contrib-python-headless" (bash tools/setup_env.sh does this)')

#: SEEDS settings of the release (docs/cast.md, "Superpixels").
SEEDS_PRESETS = dict(
    segmentation=dict(num_levels=1, prior=2, histogram_bins=5,
                      double_step=False, num_iterations=15),
    classification=dict(num_levels=1, prior=2, histogram_bins=15,
                        double_step=False, num_iterations=20),
)


def get_ximgproc():
    """Return ``cv2.ximgproc``, or raise a one-line error naming the fix."""
    import cv2
    if not hasattr(cv2, 'ximgproc'):
        raise ImportError(CONTRIB_MISSING.format(path=cv2.__file__))
    return cv2.ximgproc


def compute_superpixels(img: np.ndarray,
                        num_superpixels: int,
                        algorithm: str = 'seeds',
                        seeds_cfg: Optional[dict] = None,
                        slic_cfg: Optional[dict] = None,
                        channel_order: str = 'bgr') -> np.ndarray:
    """Superpixels of one uint8 colour image.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8.
        num_superpixels (int): target count.
        algorithm (str): ``'seeds'`` or ``'slic'``.
        seeds_cfg (dict, optional): ``num_levels``, ``prior``,
            ``histogram_bins``, ``double_step``, ``num_iterations``.
        slic_cfg (dict, optional): ``algorithm`` (``'SLICO'``, ``'SLIC'``,
            ``'MSLIC'``), ``ruler``, ``num_iterations``; the region size
            follows from ``num_superpixels``.
        channel_order (str): ``'bgr'`` (mmcv's loading) or ``'rgb'``.

    Returns:
        np.ndarray: ``(H, W)`` int32 labels, contiguous from 0.
    """
    import cv2
    ximgproc = get_ximgproc()
    code = cv2.COLOR_BGR2Lab if channel_order == 'bgr' else cv2.COLOR_RGB2Lab
    lab = cv2.cvtColor(np.ascontiguousarray(img), code)
    H, W = lab.shape[:2]
    num_superpixels = max(1, int(num_superpixels))
    if algorithm == 'seeds':
        cfg = dict(SEEDS_PRESETS['segmentation'], **(seeds_cfg or {}))
        seeds = ximgproc.createSuperpixelSEEDS(
            W, H, 3, num_superpixels, cfg['num_levels'], cfg['prior'],
            cfg['histogram_bins'], cfg['double_step'])
        seeds.iterate(lab, cfg['num_iterations'])
        labels = seeds.getLabels()
    elif algorithm == 'slic':
        cfg = dict(dict(algorithm='SLICO', ruler=10., num_iterations=10),
                   **(slic_cfg or {}))
        kind = getattr(ximgproc, cfg['algorithm'].upper())
        region = max(1, int(round((H * W / num_superpixels)**0.5)))
        slic = ximgproc.createSuperpixelSLIC(lab, kind, region,
                                             float(cfg['ruler']))
        slic.iterate(cfg['num_iterations'])
        labels = slic.getLabels()
    else:
        raise ValueError(f"superpixel algorithm must be 'seeds' or 'slic', "
                         f'got {algorithm!r}')
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(H, W).astype(np.int32)


def to_three_channels(img: np.ndarray) -> np.ndarray:
    """Grayscale -> 3 channels, RGBA/BGRA -> drop alpha; uint8 output."""
    import cv2
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        img = cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    elif not (img.ndim == 3 and img.shape[2] == 3):
        raise ValueError('expected a grayscale, 3-channel or 4-channel '
                         f'image, got shape {img.shape}')
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


@register_transform
class Superpixels(BaseTransform):
    """Compute superpixels of the final augmented image (registered in mmseg
    and mmpretrain).

    Put it after every geometric and photometric augmentation and just
    before packing: the map then matches exactly what the network sees.  It
    appends the map to the image as an extra channel, so every later step
    that moves pixels (the data preprocessor's padding, mmseg's sliding
    windows, batching) moves image and superpixels together; the CAST data
    preprocessors split them again.

    Required keys: ``img``. Modified keys: ``img`` (becomes ``(H, W, 4)``
    float32: B, G, R, label). Added keys: ``superpixels`` (``(H, W)``
    int32), ``num_superpixels``.

    Grayscale images are expanded to three channels and an alpha channel is
    dropped first.  The result is deterministic for a given image.

    Args:
        algorithm (str): ``'seeds'`` (default, the release) or ``'slic'``.
        num_superpixels (int, optional): fixed target count; by default
            ``H * W / stride**2`` (196 at 224, 1024 at 512).
        stride (int): see ``num_superpixels``. Defaults to 16.
        preset (str): SEEDS settings of the release: ``'segmentation'``
            (default) or ``'classification'``.
        seeds_cfg (dict, optional): overrides of the preset.
        slic_cfg (dict, optional): see :func:`compute_superpixels`.
        channel_order (str): of ``img``: ``'bgr'`` (default, mmcv) or
            ``'rgb'``.
        append_to_img (bool): append the map to ``img`` (default True).
    """

    def __init__(self,
                 algorithm: str = 'seeds',
                 num_superpixels: Optional[int] = None,
                 stride: int = 16,
                 preset: str = 'segmentation',
                 seeds_cfg: Optional[dict] = None,
                 slic_cfg: Optional[dict] = None,
                 channel_order: str = 'bgr',
                 append_to_img: bool = True):
        if algorithm not in ('seeds', 'slic'):
            raise ValueError(f"algorithm must be 'seeds' or 'slic', got "
                             f'{algorithm!r}')
        if preset not in SEEDS_PRESETS:
            raise ValueError(f'preset must be one of {sorted(SEEDS_PRESETS)}'
                             f', got {preset!r}')
        self.algorithm = algorithm
        self.num_superpixels = num_superpixels
        self.stride = stride
        self.seeds_cfg = dict(SEEDS_PRESETS[preset], **(seeds_cfg or {}))
        self.slic_cfg = slic_cfg
        self.channel_order = channel_order
        self.append_to_img = append_to_img

    def target_count(self, height: int, width: int) -> int:
        if self.num_superpixels is not None:
            return self.num_superpixels
        return max(1, round(height * width / self.stride**2))

    def transform(self, results: dict) -> dict:
        img = results['img']
        if 'superpixels' in results and img.ndim == 3 and img.shape[2] == 4 \
                and img.dtype == np.float32:
            raise ValueError('Superpixels is applied twice in the pipeline')
        img = to_three_channels(img)
        H, W = img.shape[:2]
        labels = compute_superpixels(img, self.target_count(H, W),
                                     self.algorithm, self.seeds_cfg,
                                     self.slic_cfg, self.channel_order)
        results['superpixels'] = labels
        results['num_superpixels'] = int(labels.max()) + 1
        if self.append_to_img:
            results['img'] = np.concatenate(
                [img.astype(np.float32),
                 labels[..., None].astype(np.float32)], axis=-1)
        else:
            results['img'] = img
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(algorithm={self.algorithm!r}, '
                f'num_superpixels={self.num_superpixels}, '
                f'stride={self.stride}, seeds_cfg={self.seeds_cfg})')
