# Copyright (c) mmcast contributors. All rights reserved.
"""The pixel-to-feature front of CAST, before the per-superpixel mean."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

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
    return ConvStem(embed_dims), 8


class ConvStem(nn.Sequential):
    """The release's stride-8 convolutional stem (see :func:`build_stem`).

    An ``nn.Sequential`` of four ``ConvModule`` (conv, BN, ReLU) and a 1x1
    convolution, so parameter names are ``stem.{i}.conv.weight``,
    ``stem.{i}.bn.*`` and ``stem.4.*`` as before.

    Inference (eval mode with gradients off) runs the convolutions with the
    batch norms folded in (``w * g / sqrt(v + eps)``, ``b - m * g / sqrt(v +
    eps)``) and in channels-last layout, with the same outputs up to float
    rounding.  The folded weights are cached and rebuilt whenever a weight
    or statistic changes (an optimizer step, ``load_state_dict``), the
    device or dtype changes, or the module is put in training mode.
    Training, eval with gradients on (a frozen stem) and tracing
    (``torch.export``) run the layers as they are.

    The last 1x1 convolution is affine, so it commutes with any average
    over pixels: :meth:`features` stops before it and :meth:`project` applies
    it to averaged tokens (a quarter of the work at stride 8 with 4 pixels
    per superpixel).

    Args:
        embed_dims (int): C; must divide by 8.
    """

    def __init__(self, embed_dims: int):
        if embed_dims % 8:
            raise ValueError(f'embed_dims must divide by 8, got {embed_dims}')
        layers, in_ch = [], 3
        for i, stride in enumerate((2, 2, 2, 1)):
            out_ch = embed_dims // 8 * 2**i
            layers.append(
                ConvModule(in_ch, out_ch, 3, stride, padding=1, bias=False,
                           norm_cfg=dict(type='BN'),
                           act_cfg=dict(type='ReLU')))
            in_ch = out_ch
        layers.append(nn.Conv2d(embed_dims, embed_dims, 1))
        super().__init__(*layers)
        self._folded: Optional[tuple] = None

    def train(self, mode: bool = True):
        self._folded = None
        return super().train(mode)

    def _fold_key(self) -> tuple:
        return tuple((t.data_ptr(), t._version, t.dtype)
                     for m in list(self)[:-1]
                     for t in (*m.parameters(), *m.buffers()))

    def _folded_layers(self) -> Optional[list]:
        """``(weight, bias, stride, padding)`` of each conv with its batch
        norm folded in, cached; None when a norm cannot be folded (no
        running statistics)."""
        key = self._fold_key()
        if self._folded is not None and self._folded[0] == key:
            return self._folded[1]
        layers = []
        for m in list(self)[:-1]:
            conv, bn = m.conv, m.bn
            if not isinstance(bn, nn.BatchNorm2d) or bn.running_var is None:
                return None
            scale = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale
            if bn.bias is not None:
                shift = shift + bn.bias
            weight = (conv.weight * scale[:, None, None, None]).contiguous(
                memory_format=torch.channels_last)
            layers.append((weight, shift, conv.stride, conv.padding))
        self._folded = (key, layers)
        return layers

    def features(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, C, H/8, W/8)`` before the 1x1
        projection (channels-last in folded inference)."""
        folded = None
        # Traced (torch.export, torch.compile) the layers run as they are:
        # the cache is keyed on data pointers, which fake tensors lack.
        if not (self.training or torch.is_grad_enabled()
                or torch.compiler.is_compiling()):
            folded = self._folded_layers()
        if folded is None:
            for m in list(self)[:-1]:
                x = m(x)
            return x
        x = x.contiguous(memory_format=torch.channels_last)
        for weight, bias, stride, padding in folded:
            x = F.relu_(F.conv2d(x, weight, bias, stride, padding))
        return x

    def project(self, tokens: Tensor) -> Tensor:
        """The 1x1 projection on ``(B, N, C)`` tokens (or pixels)."""
        proj = self[-1]
        return F.linear(tokens, proj.weight.flatten(1), proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, C, H/8, W/8)``."""
        return self[-1](self.features(x)).contiguous()
