# Copyright (c) mmcast contributors. All rights reserved.
"""``torch.export`` of the CAST backbone, and ONNX from the exported program.

An exported program has fixed shapes and cannot branch on tensor values.
CAST's token count is the number of distinct superpixels of an image, a
*value* of the superpixel map.  The exported backbone therefore fixes it
with the input size: it takes ``(img, superpixels)`` whose labels are
``0..N-1``, every id present in every image, for the ``N`` it was exported
with (regular grid superpixels always are; SEEDS gives about, not exactly,
its target).  Under that contract the whole forward is one static graph:
farthest point sampling is a loop of ``K`` steps (unrolled), each stage
keeps ``min(K, N)`` clusters, and attention always applies the padding
mask.

What exports: the stem-pooled CAST without fusion (the classification and
self-supervised variants), with every ``out_type``.  What does not, and
why, is reported by :func:`export_backbone` from the first operation that
depends on label values (``docs/backbone.md``, "Export").
"""
import os.path as osp
import traceback
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils._pytree import tree_leaves

from mmcast.models.utils.superpixel_policy import grid_superpixels

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))


class StaticSuperpixelCAST(nn.Module):
    """A CAST backbone whose superpixel count is part of the program.

    Args:
        backbone (nn.Module): a :class:`~mmcast.models.CAST`.
        num_superpixels (int): N; the superpixel maps given to
            :meth:`forward` must hold the labels ``0..N-1``, all present.
    """

    def __init__(self, backbone: nn.Module, num_superpixels: int):
        super().__init__()
        self.backbone = backbone
        self.num_superpixels = int(num_superpixels)

    def forward(self, img: Tensor, superpixels: Tensor):
        return self.backbone(img, superpixels,
                             num_superpixels=self.num_superpixels)


def export_inputs(img_size: Tuple[int, int], stride: int = 16,
                  batch_size: int = 1, seed: int = 0):
    """Example inputs: random images and grid superpixels.

    Returns:
        tuple[Tensor, Tensor]: ``(B, 3, H, W)`` images and ``(B, H, W)``
        labels of ``ceil(H / stride) * ceil(W / stride)`` square patches.
    """
    H, W = img_size
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(batch_size, 3, H, W, generator=g)
    labels = grid_superpixels(H, W, stride)
    return img, labels.expand(batch_size, H, W).contiguous()


def _superpixel_count(superpixels: Tensor) -> int:
    """N of a map that meets the contract, else a one-line error."""
    if superpixels.dim() != 3 or superpixels.is_floating_point():
        raise ValueError('superpixels must be an integer (B, H, W) map, got '
                         f'{superpixels.dtype} {tuple(superpixels.shape)}')
    N = int(superpixels.max()) + 1
    flat = superpixels.flatten(1)
    present = torch.zeros(flat.shape[0], N, dtype=torch.bool)
    present.scatter_(1, flat.clamp(min=0).cpu(), True)
    if bool((flat < 0).any()) or not bool(present.all()):
        raise ValueError(
            'an exported CAST needs superpixel labels 0..N-1 with every id '
            'present in every image (e.g. grid superpixels); relabel them '
            'first')
    return N


def _blocking_frame(error: BaseException) -> str:
    """The innermost mmcast source line on the traceback of ``error``."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename.startswith(_PACKAGE)]
    if not frames:
        return 'outside mmcast'
    f = frames[-1]
    return (f'{osp.relpath(f.filename, osp.dirname(_PACKAGE))}:{f.lineno} '
            f'`{(f.line or "").strip()}`')


def export_backbone(backbone: nn.Module, img: Tensor,
                    superpixels: Tensor) -> torch.export.ExportedProgram:
    """Export a CAST backbone for the shapes of ``img`` and the superpixel
    count of ``superpixels`` (see the module doc for the contract).

    Args:
        backbone (nn.Module): a CAST backbone (put in eval mode).
        img (Tensor): ``(B, 3, H, W)`` example images.
        superpixels (Tensor): ``(B, H, W)`` labels ``0..N-1``, all present.

    Returns:
        torch.export.ExportedProgram: called as ``program.module()(img,
        superpixels)``; returns what the backbone's ``out_type`` returns.

    Raises:
        RuntimeError: when tracing meets an operation whose output shape or
            control flow depends on tensor values; the message names the
            mmcast source line and the backbone's settings.
    """
    module = StaticSuperpixelCAST(backbone.eval(),
                                  _superpixel_count(superpixels))
    try:
        with torch.no_grad():
            return torch.export.export(module, (img, superpixels),
                                       strict=False)
    except Exception as e:  # torch raises several kinds
        settings = ', '.join(
            f'{k}={getattr(backbone, a)!r}' for k, a in (
                ('token_pooling', 'token_pooling'),
                ('out_type', 'out_type')))
        settings += f', with_fusion={backbone.fusion is not None}'
        first = str(e).strip().splitlines()[0]
        raise RuntimeError(
            f'torch.export cannot trace CAST({settings}): it depends on '
            f'tensor values at {_blocking_frame(e)} ({type(e).__name__}: '
            f'{first})') from e


def max_abs_difference(program: torch.export.ExportedProgram,
                       backbone: nn.Module, img: Tensor,
                       superpixels: Tensor) -> float:
    """Largest absolute difference between the exported program and the
    eager backbone (its ordinary path, relabelling included) over every
    tensor of their outputs."""
    with torch.no_grad():
        eager = tree_leaves(backbone.eval()(img, superpixels))
        exported = tree_leaves(program.module()(img, superpixels))
    if len(eager) != len(exported):
        raise AssertionError(f'{len(exported)} exported outputs, '
                             f'{len(eager)} eager ones')
    diff = 0.
    for a, b in zip(eager, exported):
        if isinstance(a, Tensor):
            diff = max(diff, float((a.double() - b.double()).abs().max())
                       if a.numel() else 0.)
        elif a != b:
            return float('inf')
    return diff


def export_onnx(program: torch.export.ExportedProgram, path: str) -> str:
    """Write the exported program as ONNX (``torch.onnx``'s exporter of
    exported programs; needs ``onnx`` and ``onnxscript``)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError(f'ONNX export needs onnx and onnxscript ({e}); '
                          'pip install onnx onnxscript') from None
    onnx_program = torch.onnx.export(program, (), dynamo=True)
    onnx_program.save(path)
    return path
