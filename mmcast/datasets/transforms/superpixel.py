# Copyright (c) mmcast contributors. All rights reserved.
import threading
import warnings
from typing import Optional, Tuple

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


def superpixel_count(height: int, width: int, stride: int = 16,
                     num_superpixels: Optional[int] = None) -> int:
    """Target number of superpixels of a ``height x width`` image:
    ``num_superpixels`` if given, else ``H * W / stride**2`` (at least 1)."""
    if num_superpixels is not None:
        return max(1, int(num_superpixels))
    return max(1, round(height * width / stride**2))


def get_ximgproc():
    """Return ``cv2.ximgproc``, or raise a one-line error naming the fix."""
    import cv2
    if not hasattr(cv2, 'ximgproc'):
        raise ImportError(CONTRIB_MISSING.format(path=cv2.__file__))
    return cv2.ximgproc


def seeds_top_grid(height: int,
                   width: int,
                   num_superpixels: int,
                   num_levels: int = 1) -> Optional[Tuple[int, int]]:
    """The grid of superpixels OpenCV's SEEDS starts from, or None where
    SEEDS would crash or hang.

    A mirror of ``SuperpixelSEEDSImpl::initialize`` (opencv_contrib,
    ``modules/ximgproc/src/seeds.cpp``), float32 arithmetic as in C: the
    count is raised to 10 and the levels to 2; the image is split into
    ``rows x cols`` superpixels (``rows = int(sqrt(n H / W))``, ``cols =
    rows W // H``), each made of ``2**(levels-1)`` square blocks a side;
    when the blocks would be narrower than a pixel, SEEDS drops a level.

    Measured (docs/robustness.md): SEEDS segfaults or loops forever
    exactly when ``rows`` or ``cols`` is 0, or fewer than two levels fit
    (blocks of at least a pixel need ``W >= 2 cols`` and ``H >= 2 rows``),
    or the top grid is empty; it never failed on any other shape.

    Returns:
        tuple[int, int] | None: ``(rows, cols)`` of the initial
        superpixels, None when SEEDS cannot take this shape.
    """
    f32 = np.float32
    n = max(int(num_superpixels), 10)
    top = max(int(num_levels), 2)
    rows = int(np.sqrt(f32(f32(n) * f32(height)) / f32(width)))
    cols = rows * width // height
    if rows < 1 or cols < 1:
        return None
    for levels in range(top, 0, -1):
        scale = f32(1 << (levels - 1))
        block_w = f32(f32(width) / f32(cols)) / scale
        block_h = f32(f32(height) / f32(rows)) / scale
        if block_w >= 1 and block_h >= 1:
            break
    if levels < 2:  # one level (or none): SEEDS crashes or hangs
        return None
    shift = levels - 1
    grid = ((height // int(np.ceil(block_h))) >> shift,
            (width // int(np.ceil(block_w))) >> shift)
    return grid if min(grid) >= 1 else None


#: SLIC variants offered.  OpenCV's MSLIC is left out: it segfaults on
#: shapes where SLIC and SLICO run, depending on the image's content
#: (docs/robustness.md), so no shape rule can make it safe.
SLIC_ALGORITHMS = ('SLICO', 'SLIC')


def check_slic_cfg(slic_cfg: Optional[dict]) -> dict:
    """The SLIC settings with their defaults, or a one-line ValueError."""
    cfg = dict(dict(algorithm='SLICO', ruler=10., num_iterations=10),
               **(slic_cfg or {}))
    if str(cfg['algorithm']).upper() not in SLIC_ALGORITHMS:
        raise ValueError(
            f"slic_cfg algorithm must be one of {SLIC_ALGORITHMS}, got "
            f"{cfg['algorithm']!r} (MSLIC crashes OpenCV on ordinary "
            'images, see docs/robustness.md)')
    return cfg


def slic_fits(height: int, width: int, region_size: int) -> bool:
    """Whether OpenCV's SLIC/SLICO can take this shape: the image must be
    at least ``region_size`` and 8 pixels thick.  A conservative rule,
    measured: OpenCV segfaults on some thinner images and never did on
    these (docs/robustness.md)."""
    return min(height, width) >= max(8, region_size)


def grid_superpixels(height: int, width: int,
                     num_superpixels: int) -> np.ndarray:
    """A regular grid of about ``num_superpixels`` cells following the
    image's aspect ratio: the superpixels of shapes SEEDS/SLIC cannot take.

    Returns:
        np.ndarray: ``(H, W)`` int32 labels, contiguous from 0.
    """
    n = max(1, int(num_superpixels))
    rows = int(np.clip(round(np.sqrt(n * height / width)), 1, height))
    cols = int(np.clip(round(n / rows), 1, width))
    r = np.arange(height) * rows // height
    c = np.arange(width) * cols // width
    return (r[:, None] * cols + c[None]).astype(np.int32)


def compute_superpixels(img: np.ndarray,
                        num_superpixels: int,
                        algorithm: str = 'seeds',
                        seeds_cfg: Optional[dict] = None,
                        slic_cfg: Optional[dict] = None,
                        channel_order: str = 'bgr') -> np.ndarray:
    """Superpixels of one image, of any size.

    OpenCV's SEEDS and SLIC crash the process (segfault) or never return on
    some shapes: tiny images, thin strips, too few superpixels for the
    aspect ratio (docs/robustness.md).  Those shapes, predicted by
    :func:`seeds_top_grid` / :func:`slic_fits`, get a regular grid
    (:func:`grid_superpixels`) instead, with a warning.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8, or anything
            :func:`to_three_channels` takes.
        num_superpixels (int): target count.
        algorithm (str): ``'seeds'`` or ``'slic'``.
        seeds_cfg (dict, optional): ``num_levels``, ``prior``,
            ``histogram_bins``, ``double_step``, ``num_iterations``.
        slic_cfg (dict, optional): ``algorithm`` (``'SLICO'`` or
            ``'SLIC'``), ``ruler``, ``num_iterations``; the region size
            follows from ``num_superpixels``.
        channel_order (str): ``'bgr'`` (mmcv's loading) or ``'rgb'``.

    Returns:
        np.ndarray: ``(H, W)`` int32 labels, contiguous from 0.
    """
    import cv2
    if algorithm not in ('seeds', 'slic'):
        raise ValueError(f"superpixel algorithm must be 'seeds' or 'slic', "
                         f'got {algorithm!r}')
    ximgproc = get_ximgproc()
    img = to_three_channels(img)
    H, W = img.shape[:2]
    num_superpixels = max(1, int(num_superpixels))
    if algorithm == 'seeds':
        cfg = dict(SEEDS_PRESETS['segmentation'], **(seeds_cfg or {}))
        runs = seeds_top_grid(H, W, num_superpixels,
                              cfg['num_levels']) is not None
    else:
        cfg = check_slic_cfg(slic_cfg)
        region = max(1, int(round((H * W / num_superpixels)**0.5)))
        runs = slic_fits(H, W, region)
    if not runs:
        warnings.warn(
            f'{algorithm.upper()} cannot segment an image this small or '
            'this elongated for the requested count (it would crash): '
            'using a regular grid of superpixels (docs/robustness.md)',
            UserWarning, stacklevel=2)
        return grid_superpixels(H, W, num_superpixels)
    code = cv2.COLOR_BGR2Lab if channel_order == 'bgr' else cv2.COLOR_RGB2Lab
    lab = cv2.cvtColor(np.ascontiguousarray(img), code)
    if algorithm == 'seeds':
        seeds = seeds_engine(W, H, num_superpixels, cfg['num_levels'],
                             cfg['prior'], cfg['histogram_bins'],
                             cfg['double_step'])
        seeds.iterate(lab, cfg['num_iterations'])
        labels = seeds.getLabels()
    else:
        kind = getattr(ximgproc, cfg['algorithm'].upper())
        slic = ximgproc.createSuperpixelSLIC(lab, kind, region,
                                             float(cfg['ruler']))
        slic.iterate(cfg['num_iterations'])
        labels = slic.getLabels()
    return contiguous_labels(labels)


_ENGINES = threading.local()


def seeds_engine(width: int, height: int, num_superpixels: int,
                 num_levels: int, prior: int, histogram_bins: int,
                 double_step: bool):
    """OpenCV's SEEDS object for these settings, made once per thread.

    ``iterate`` starts from scratch on every image (same labels as a new
    object, checked in tests), so the object, whose construction allocates
    its grids (about 5% of the transform at 512x512), is reused.  A few
    sizes are kept per thread (data loader workers see one or two).
    """
    cache = getattr(_ENGINES, 'cache', None)
    if cache is None:
        cache = _ENGINES.cache = {}
    key = (width, height, num_superpixels, num_levels, prior,
           histogram_bins, bool(double_step))
    if key not in cache:
        if len(cache) >= 8:
            cache.clear()
        cache[key] = get_ximgproc().createSuperpixelSEEDS(
            width, height, 3, num_superpixels, num_levels, prior,
            histogram_bins, bool(double_step))
    return cache[key]


def contiguous_labels(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered ``0..n-1`` in increasing order of their ids (what
    ``np.unique(labels, return_inverse=True)`` gives).

    The ids of SEEDS and SLIC are small non-negative integers: a presence
    table and its running count renumber them without sorting the pixels
    (a sort took a quarter of the transform's time at 512x512).

    Args:
        labels (np.ndarray): ``(H, W)`` integer labels.

    Returns:
        np.ndarray: ``(H, W)`` int32.
    """
    flat = labels.ravel()
    low, high = int(flat.min()), int(flat.max())
    if low < 0 or high >= 4 * flat.size:
        _, inverse = np.unique(flat, return_inverse=True)
        return inverse.reshape(labels.shape).astype(np.int32)
    present = np.zeros(high + 1, dtype=bool)
    present[flat] = True
    ranks = (np.cumsum(present) - 1).astype(np.int32)
    return ranks[labels]


def to_three_channels(img: np.ndarray) -> np.ndarray:
    """Any image as ``(H, W, 3)`` uint8, or a one-line ``ValueError``.

    Grayscale ``(H, W)`` / ``(H, W, 1)`` and grey+alpha ``(H, W, 2)`` are
    expanded to three channels, an alpha channel is dropped.  16-bit images
    are scaled by 1/257; other integer and float images are taken on the
    0-255 scale of mmcv's pipelines (NaN -> 0) and clipped; booleans become
    0/255.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8, C-contiguous.
    """
    import cv2
    img = np.asarray(img)
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    if img.dtype.kind not in 'uif':
        raise ValueError(f'expected a numeric image, got dtype {img.dtype}')
    if img.ndim not in (2, 3) or (img.ndim == 3
                                  and img.shape[2] not in (1, 2, 3, 4)):
        raise ValueError('expected a grayscale, 3-channel or 4-channel '
                         f'image, got shape {img.shape}')
    if img.size == 0:
        raise ValueError(f'empty image of shape {img.shape}')
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.).round()
    if img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float64), nan=0.,
                                    posinf=255., neginf=0.), 0, 255)
        img = img.astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 2:  # grey + alpha
        img = img[..., 0]
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(np.ascontiguousarray(img.reshape(img.shape[:2])),
                           cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


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
        self.slic_cfg = check_slic_cfg(slic_cfg)
        self.channel_order = channel_order
        self.append_to_img = append_to_img

    def target_count(self, height: int, width: int) -> int:
        return superpixel_count(height, width, self.stride,
                                self.num_superpixels)

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
