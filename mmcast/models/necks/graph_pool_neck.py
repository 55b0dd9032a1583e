# Copyright (c) mmcast contributors. All rights reserved.
"""GraphPool as a neck: CAST's stages after a stock Vision Transformer."""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmcast.models.backbones.cast import CAST
from mmcast.registry import register_model

VIT_OUTPUT = (
    'GraphPoolNeck takes a ViT output that keeps the class token: '
    "mmpretrain's VisionTransformer with out_type='raw' ((B, 1+N, C)) or "
    "mmseg's with output_cls_token=True ([(B, C, h, w), (B, C)]); got {}")


def patch_grid_labels(grid: Tuple[int, int], patch_size: int,
                      size: Tuple[int, int], batch: int,
                      device=None) -> Tensor:
    """The label map of a regular patch grid, patches numbered row-major.

    Args:
        grid (tuple[int, int]): ``(h, w)`` patches.
        patch_size (int): pixels per patch side.
        size (tuple[int, int]): ``(H, W)`` of the map (``<= (h*p, w*p)``:
            a ViT pads the bottom and right edges).
        batch (int): B.
        device: of the result.

    Returns:
        Tensor: ``(B, H, W)`` int64, pixel ``(y, x)`` in patch ``(y // p) *
        w + x // p``.
    """
    (h, w), (H, W) = grid, size
    ys = torch.arange(H, device=device).div(patch_size, rounding_mode='floor')
    xs = torch.arange(W, device=device).div(patch_size, rounding_mode='floor')
    if int(ys[-1]) >= h or int(xs[-1]) >= w:
        raise ValueError(f'a {h}x{w} grid of {patch_size}-pixel patches does '
                         f'not cover a {H}x{W} image')
    return (ys[:, None] * w + xs[None]).expand(batch, H, W)


@register_model
class GraphPoolNeck(CAST):
    """CAST's stages after any ViT: patch tokens + GraphPool (CAST Table 3a,
    "patch + pooling"; registered in mmseg and mmpretrain).

    The ViT's patch tokens and class token run through CAST's stages (per
    stage ``depths[i]`` ViT blocks, then a token pooling) and come out as
    CAST's: the same ``'raw'`` dict (the patch grid plays the superpixels:
    level 0 = patches, ``superpixels`` = the grid's label map), the same
    ``'cls_token'`` and ``'featmap'`` outputs, the same hypercolumn fusion.
    So :class:`~mmcast.models.decode_heads.HypercolumnUnpoolHead`,
    :class:`~mmcast.models.segmentors.HierarchySegmentor`,
    :func:`~mmcast.apis.inference_hierarchy` and the hierarchy metrics take
    it unchanged.  With ``depths=(0, 3, 3, 2)`` after a 3-layer ViT the
    model has CAST-S's layout: the ViT's layers are the first stage's
    blocks.  It is CAST itself without a tokenizer (``stem=None``); see
    :class:`~mmcast.models.backbones.PatchTokenViT` for the ViT and this
    neck as one backbone (what MoCo v3 and the hierarchy API need).

    Args:
        embed_dims (int): C, the ViT's width.
        depths (Sequence[int]): blocks per stage (0: pool right away).
            Defaults to ``(0, 3, 3, 2)``.
        num_heads (int): heads of the blocks. Defaults to 12.
        num_clusters (Sequence[int]): segments after each stage's pooling.
            Defaults to ``(64, 32, 16, 8)``.
        patch_size (int): the ViT's patch size (the grid of the level-0
            map). Defaults to 16.
        pooling (dict, optional): the token pooling (``GraphPool`` by
            default; None: no pooling), as in :class:`CAST`.
        out_type (str): ``'raw'`` (default), ``'cls_token'`` or
            ``'featmap'``, as in :class:`CAST`.
        **kwargs: the other options of :class:`CAST`'s stages and outputs
            (``with_fusion``, ``freeze_last_pool``, ``final_norm``,
            ``pool_num_heads``, ``kappa``, ``mlp_ratio``, ``qkv_bias``,
            ``drop_path_rate``, ``norm_cfg``, ``frozen_stages``,
            ``init_cfg``...).
    """

    def __init__(self,
                 embed_dims: int = 384,
                 depths: Sequence[int] = (0, 3, 3, 2),
                 num_heads: int = 12,
                 num_clusters: Sequence[int] = (64, 32, 16, 8),
                 patch_size: int = 16,
                 pooling: Optional[dict] = dict(type='GraphPool'),
                 out_type: str = 'raw',
                 **kwargs):
        super().__init__(
            arch=dict(embed_dims=embed_dims, depths=depths,
                      num_heads=num_heads),
            num_clusters=num_clusters,
            stem=None,
            patch_size=patch_size,
            pooling=pooling,
            out_type=out_type,
            **kwargs)

    def read_vit_output(
        self, inputs, img_shape: Optional[Tuple[int, int]] = None
    ) -> Tuple[Tensor, Tensor, Tuple[int, int]]:
        """Patch tokens, class token and grid of a ViT's output.

        Args:
            inputs: the ViT's output (see the class docstring); a tuple of
                per-layer outputs is read at its last entry.
            img_shape (tuple[int, int], optional): ``(H, W)`` of the image
                the ViT saw; the grid of flat tokens is ``(ceil(H/p),
                ceil(W/p))`` (square when not given).

        Returns:
            tuple: tokens ``(B, N, C)``, class token ``(B, 1, C)``, grid
            ``(h, w)``.
        """
        x = inputs
        if isinstance(x, (tuple, list)) and len(x) and isinstance(
                x[-1], (tuple, list)):
            x = x[-1]  # per-layer outputs of mmseg's ViT
        if isinstance(x, (tuple, list)) and len(x) == 2 and x[0].dim() == 4:
            fmap, cls = x
            h, w = fmap.shape[-2:]
            return fmap.flatten(2).transpose(1, 2), cls[:, None], (h, w)
        if isinstance(x, (tuple, list)):
            x = x[-1]
        if not isinstance(x, Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x)
            raise TypeError(VIT_OUTPUT.format(shape))
        cls, tokens = x[:, :1], x[:, 1:]
        N, p = tokens.shape[1], self.patch_size
        if img_shape is not None:
            grid = (math.ceil(img_shape[0] / p), math.ceil(img_shape[1] / p))
            seen = f'a {tuple(img_shape)} image in {p}-pixel patches'
        else:
            grid = (math.isqrt(N), ) * 2
            seen = 'a square grid'
        if grid[0] * grid[1] != N:
            raise ValueError(
                f'the ViT gave {N} patch tokens, {seen} has {grid[0]}x'
                f'{grid[1]}: set the neck\'s patch_size to the ViT\'s, or '
                'pass img_shape')
        return tokens, cls, grid

    def forward(self,
                inputs: Union[Tensor, Sequence],
                img_shape: Optional[Tuple[int, int]] = None,
                num_clusters: Optional[Sequence[int]] = None):
        """CAST's outputs for a ViT's tokens.

        Args:
            inputs: the ViT's output (see :meth:`read_vit_output`).
            img_shape (tuple[int, int], optional): ``(H, W)`` of the input
                image: the size of ``out['superpixels']`` (by default the
                grid times the patch size).
            num_clusters (Sequence[int], optional): clusters per stage for
                this call.

        Returns:
            As :meth:`CAST.forward` for the neck's ``out_type``.
        """
        tokens, cls, grid = self.read_vit_output(inputs, img_shape)
        B, N = tokens.shape[:2]
        size = tuple(img_shape) if img_shape is not None else (
            grid[0] * self.patch_size, grid[1] * self.patch_size)
        emb: Dict = dict(
            tokens=tokens,
            cls=cls,
            mask=torch.zeros(B, N, dtype=torch.bool, device=tokens.device),
            labels=patch_grid_labels(grid, self.patch_size, size, B,
                                     tokens.device),
            num_superpixels=torch.full((B, ), N, device=tokens.device),
            feat_size=grid)
        return self.encode(emb, num_clusters)
