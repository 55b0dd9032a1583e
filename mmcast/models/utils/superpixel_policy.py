# Copyright (c) mmcast contributors. All rights reserved.
"""What CAST does when a batch arrives without superpixels.

The fast way to give CAST its superpixels is the
:class:`~mmcast.datasets.transforms.Superpixels` transform at the end of the
data pipeline: it runs in the data loader's workers, in parallel with the
model, on each whole augmented image.  Tools that build inputs themselves
(mmseg's and mmpretrain's ``get_flops``, inferencers, stock configs whose
pipeline was not touched) send plain 3-channel images instead.  Both the
CAST data preprocessors and the CAST backbone then ask one
:class:`SuperpixelPolicy`, set in the config by ``missing_superpixels``:

* ``'seeds'`` (default): SEEDS superpixels computed on the batch, one image
  per thread; warns once that the pipeline transform would be faster and
  would segment whole images (the backbone sees padded images, sliding
  windows and Mixup/CutMix blends);
* ``'slic'``: the same with SLIC (OpenCV's SLICO);
* ``'grid'``: regular ``stride x stride`` patches, computed in torch on
  the input's device: cheap and deterministic, independent of the image;
* ``'error'``: refuse, naming the transform to add (mmcast's behaviour
  before the policy existed).

SEEDS and SLIC need a uint8 colour image.  A data preprocessor sees the
raw image (uint8 from mmcv's loading, used as it is: the same superpixels
as the transform's), before padding and batch mixing.  The backbone sees a
normalised one: it undoes ``(x - mean) / std`` when the policy is given
the preprocessor's ``mean`` and ``std``; otherwise it stretches each image's
value range to 0..255, which is the same up to a per-image affine map of
the values (SEEDS and SLIC are robust to it).
"""
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmcast.datasets.transforms.superpixel import (SEEDS_PRESETS,
                                                   compute_superpixels,
                                                   superpixel_count)

#: The choices of ``missing_superpixels``.
SUPERPIXEL_POLICIES = ('seeds', 'slic', 'grid', 'error')

MISSING_SUPERPIXELS = (
    'CAST needs a superpixel map with every image: add '
    "dict(type='Superpixels') to the data pipeline (after every "
    'augmentation, before packing) and use a CAST data preprocessor '
    "(type='CASTSegDataPreProcessor' or 'CASTClsDataPreProcessor'), call "
    "backbone(img, superpixels), or set missing_superpixels='seeds', "
    "'slic' or 'grid' to compute them in the model")


class MissingSuperpixelsWarning(UserWarning):
    """Superpixels are being computed in the model, not in the pipeline."""


def grid_superpixels(height: int, width: int, stride: int,
                     device=None) -> Tensor:
    """Regular square patches as a superpixel map.

    Args:
        height, width (int): image size.
        stride (int): patch side; the last row/column of patches is cut by
            the image border when the size does not divide.

    Returns:
        Tensor: ``(H, W)`` int64 labels, row-major over the
        ``ceil(H / stride) x ceil(W / stride)`` patches.
    """
    cols = math.ceil(width / stride)
    ys = torch.arange(height, device=device) // stride
    xs = torch.arange(width, device=device) // stride
    return ys[:, None] * cols + xs[None, :]


def image_to_uint8(img: Tensor,
                   mean: Optional[Tensor] = None,
                   std: Optional[Tensor] = None) -> np.ndarray:
    """Recover a uint8 ``(H, W, 3)`` image from a ``(3, H, W)`` tensor.

    uint8 input is used as it is; with ``mean`` and ``std`` (per channel,
    in the tensor's channel order) the normalisation is undone; otherwise
    the image's value range is stretched to 0..255 (a constant image gives
    zeros).  Non-finite values count as 0.
    """
    if img.dtype == torch.uint8:
        out = img
    else:
        x = torch.nan_to_num(img.detach().float(), nan=0., posinf=0.,
                             neginf=0.)
        if mean is not None and std is not None:
            x = x * std.to(x).view(-1, 1, 1) + mean.to(x).view(-1, 1, 1)
        else:
            lo, hi = x.min(), x.max()
            x = (x - lo) * (255. / float(hi - lo)) if hi > lo \
                else torch.zeros_like(x)
        out = x.round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(out.permute(1, 2, 0).cpu().numpy())


class SuperpixelPolicy:
    """Superpixels for images that come without them (see the module doc).

    Args:
        policy (str): ``'seeds'``, ``'slic'``, ``'grid'`` or ``'error'``.
        stride (int): superpixels per image ``H * W / stride**2`` (SEEDS,
            SLIC), or the patch side (grid). Defaults to 16, the
            ``Superpixels`` transform's.
        num_superpixels (int, optional): fixed SEEDS/SLIC target instead.
        preset (str): SEEDS settings of the release, ``'segmentation'`` or
            ``'classification'``.
        seeds_cfg, slic_cfg (dict, optional): see
            :func:`~mmcast.datasets.transforms.compute_superpixels`.
        mean, std (Sequence[float], optional): normalisation to undo before
            SEEDS/SLIC, in the input's channel order.
        channel_order (str): colour order of the input, ``'rgb'`` or
            ``'bgr'`` (for the Lab conversion of SEEDS/SLIC).
        where (str): who computes them, for the messages.
    """

    def __init__(self,
                 policy: str = 'seeds',
                 stride: int = 16,
                 num_superpixels: Optional[int] = None,
                 preset: str = 'segmentation',
                 seeds_cfg: Optional[dict] = None,
                 slic_cfg: Optional[dict] = None,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 channel_order: str = 'rgb',
                 where: str = 'model'):
        if policy not in SUPERPIXEL_POLICIES:
            raise ValueError(f'missing_superpixels must be one of '
                             f'{SUPERPIXEL_POLICIES}, got {policy!r}')
        if preset not in SEEDS_PRESETS:
            raise ValueError(f'preset must be one of {sorted(SEEDS_PRESETS)}'
                             f', got {preset!r}')
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got "
                             f'{channel_order!r}')
        if (mean is None) != (std is None):
            raise ValueError('give both mean and std, or neither')
        self.policy = policy
        self.stride = int(stride)
        self.num_superpixels = num_superpixels
        self.seeds_cfg = dict(SEEDS_PRESETS[preset], **(seeds_cfg or {}))
        self.slic_cfg = slic_cfg
        self.mean = None if mean is None else torch.tensor(
            mean, dtype=torch.float32)
        self.std = None if std is None else torch.tensor(
            std, dtype=torch.float32)
        self.channel_order = channel_order
        self.where = where
        self._warned = False

    @classmethod
    def build(cls, cfg: Union[str, dict, 'SuperpixelPolicy'],
              **defaults) -> 'SuperpixelPolicy':
        """From a config value: a policy name or a dict of the arguments
        (``dict(policy='grid', stride=8)``); ``defaults`` fill the rest."""
        if isinstance(cfg, cls):
            return cfg
        if isinstance(cfg, str):
            cfg = dict(policy=cfg)
        if not isinstance(cfg, dict):
            raise TypeError('missing_superpixels must be a policy name or a '
                            f'dict, got {type(cfg).__name__}')
        return cls(**dict(defaults, **cfg))

    def __repr__(self):
        return (f'{self.__class__.__name__}(policy={self.policy!r}, '
                f'stride={self.stride}, where={self.where!r})')

    # ------------------------------------------------------------------
    def compute(self, imgs: Sequence[Tensor]) -> List[Tensor]:
        """Superpixels of images that have none.

        Args:
            imgs (Sequence[Tensor]): ``(3, H_i, W_i)`` images (uint8 raw, or
                float; see :func:`image_to_uint8`).

        Returns:
            list[Tensor]: ``(H_i, W_i)`` int64 labels, contiguous from 0, on
            each image's device.

        Raises:
            ValueError: with the ``'error'`` policy.
        """
        if self.policy == 'error':
            raise ValueError(MISSING_SUPERPIXELS)
        if self.policy == 'grid':
            return [grid_superpixels(*img.shape[-2:], self.stride,
                                     img.device) for img in imgs]
        if not self._warned:
            self._warned = True
            warnings.warn(
                f'CAST computes {self.policy.upper()} superpixels in the '
                f'{self.where} because the inputs carry none; '
                "dict(type='Superpixels') at the end of the data pipeline "
                'is faster (data loader workers, in parallel with the '
                'model) and segments each augmented image whole, before '
                'padding, sliding windows and batch mixing. '
                "missing_superpixels='grid' or 'error' silences this.",
                MissingSuperpixelsWarning)
        arrays = [image_to_uint8(img, self.mean, self.std) for img in imgs]
        workers = min(len(arrays), os.cpu_count() or 1)
        if workers > 1:  # OpenCV releases the GIL
            with ThreadPoolExecutor(workers) as pool:
                labels = list(pool.map(self._one, arrays))
        else:
            labels = [self._one(a) for a in arrays]
        return [torch.from_numpy(lab).long().to(img.device)
                for lab, img in zip(labels, imgs)]

    def _one(self, img: np.ndarray) -> np.ndarray:
        H, W = img.shape[:2]
        return compute_superpixels(
            img, superpixel_count(H, W, self.stride, self.num_superpixels),
            self.policy, self.seeds_cfg, self.slic_cfg, self.channel_order)

    def split(self, inputs: Sequence[Tensor]) -> Tuple[list, list]:
        """Images and superpixel maps of ``(C, H, W)`` samples.

        A 4-channel sample carries its map as the last channel (the
        ``Superpixels`` transform); a 3-channel one gets it from
        :meth:`compute`, all such samples of the batch together.

        Returns:
            tuple[list, list]: ``(3, H_i, W_i)`` images and ``(H_i, W_i)``
            maps.
        """
        bad = sorted({tuple(x.shape) for x in inputs
                      if x.dim() != 3 or x.shape[0] not in (3, 4)})
        if bad:
            raise ValueError(f'expected (3, H, W) images or (4, H, W) images '
                             f'with superpixels, got samples of shape {bad}')
        missing = [i for i, x in enumerate(inputs) if x.shape[0] == 3]
        computed = iter(self.compute([inputs[i] for i in missing])
                        if missing else [])
        imgs = [x[:3] for x in inputs]
        labels = [next(computed) if x.shape[0] == 3 else x[3]
                  for x in inputs]
        return imgs, labels
