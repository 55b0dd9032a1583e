# Copyright (c) mmcast contributors. All rights reserved.
"""The pixel-to-feature front of CAST, before the per-superpixel mean."""
from typing import Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule

#: Stems :func:`build_stem` knows.
STEMS = ('conv', 'patch')


def build_stem(kind: str, embed_dims: int,
               patch_size: int = 16) -> Tuple[nn.Module, int]:
    """Build CAST's stem.

    - ``'conv'`` (the release): four 3x3 convolutions without bias, each
      followed by BatchNorm and ReLU, strides 2, 2, 2, 1 and widths C/8,
      C/4, C/2, C, then a 1x1 convolution with bias: stride 8.
    - ``'patch'``: a ViT patch embedding, one convolution of kernel and
      stride ``patch_size`` (mmpretrain's ``PatchEmbed`` projection).  With a
      superpixel map that is the ``patch_size`` grid, CAST's tokens are then
      exactly a ViT's patch tokens (CAST Table 3a, "patch + pooling").

    Args:
        kind (str): one of :data:`STEMS`.
        embed_dims (int): C.
        patch_size (int): the patch stem's kernel and stride.

    Returns:
        tuple[nn.Module, int]: the stem (``(B, 3, H, W) -> (B, C, H/s,
        W/s)``) and its stride ``s``, the grid the position table is built
        on.
    """
    if kind == 'patch':
        return nn.Conv2d(3, embed_dims, patch_size, patch_size), patch_size
    if kind != 'conv':
        raise ValueError(f'stem must be one of {STEMS} (or None for the '
                         f'tokens of another backbone), got {kind!r}')
    if embed_dims % 8:
        raise ValueError(f'embed_dims must divide by 8, got {embed_dims}')
    layers, in_ch = [], 3
    for i, stride in enumerate((2, 2, 2, 1)):
        out_ch = embed_dims // 8 * 2**i
        layers.append(
            ConvModule(in_ch, out_ch, 3, stride, padding=1, bias=False,
                       norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU')))
        in_ch = out_ch
    layers.append(nn.Conv2d(embed_dims, embed_dims, 1))
    return nn.Sequential(*layers), 8
