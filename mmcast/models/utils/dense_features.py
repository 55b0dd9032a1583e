# Copyright (c) mmcast contributors. All rights reserved.
"""Dense token maps (and class-token attention) of ViT and CAST alike.

Leopart and its evaluation treat a backbone as a map of spatial tokens; a
ViT has one token per patch, CAST one per segment.  :func:`dense_features`
gives both as ``(B, C, h, w)`` maps on their grid (the ViT's patches,
CAST's stride-8 stem grid with each cell holding the token of the segment
under it), with the grid's scale and, on request, the last block's
class-token attention per cell.
"""
from typing import Dict, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmcast.models.utils.superpixel_ops import resize_labels


def is_cast(backbone: nn.Module) -> bool:
    """Whether ``backbone`` is mmcast's CAST."""
    return type(backbone).__name__ == 'CAST'


def _vit_features(backbone: nn.Module, img: Tensor,
                  with_attention: bool) -> Dict[str, Tensor]:
    if getattr(backbone, 'out_type', None) != 'featmap' or not hasattr(
            backbone, 'layers'):
        raise ValueError(
            'dense features need mmpretrain\'s VisionTransformer with '
            "out_type='featmap' (or CAST with out_type='raw'), got "
            f'{type(backbone).__name__}')
    seen = {}
    hook = None
    if with_attention:
        if getattr(backbone, 'num_extra_tokens', 0) < 1:
            raise ValueError('class-token attention needs a ViT with a '
                             'class token (with_cls_token=True)')
        hook = backbone.layers[-1].attn.register_forward_pre_hook(
            lambda m, args: seen.__setitem__('x', args[0]))
    try:
        feats = backbone(img)[-1]
    finally:
        if hook is not None:
            hook.remove()
    out = dict(feats=feats, attention=None)
    if with_attention:
        attn = backbone.layers[-1].attn
        x = seen['x']
        B, N, _ = x.shape
        qkv = attn.qkv(x).reshape(B, N, 3, attn.num_heads, attn.head_dims)
        q, k = qkv[:, :1, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)
        weights = (q @ k.transpose(-2, -1) * attn.head_dims**-0.5).softmax(-1)
        extra = backbone.num_extra_tokens
        h, w = feats.shape[-2:]
        out['attention'] = weights[:, :, 0, extra:].mean(1).reshape(B, h, w)
    return out


def _cast_features(backbone: nn.Module, inputs: Tensor, with_attention: bool,
                   level: Union[int, str]) -> Dict[str, Tensor]:
    if backbone.out_type != 'raw':
        raise ValueError("dense CAST features need out_type='raw'")
    if with_attention and not backbone.with_cls_attention:
        raise ValueError('class-token attention needs CAST built with '
                         'with_cls_attention=True')
    raw = backbone(inputs)
    maps = backbone.to_featmaps(raw)
    if backbone.norm is not None:
        # the final norm on every token, as a ViT's last output has it
        maps = tuple(
            backbone.norm(m.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            for m in maps)
    if level == 'all':
        feats = torch.stack(maps).mean(0)
    elif isinstance(level, int) and -len(maps) <= level < len(maps):
        feats = maps[level]
    else:
        raise ValueError(f"level must be 'all' or a stage index below "
                         f'{len(maps)}, got {level!r}')
    out = dict(feats=feats, attention=None)
    if with_attention:
        # The last stage's tokens, painted per cell; each token's weight is
        # spread evenly over its cells so that the map keeps the mass.
        weights = raw['cls_attention'][:, :, 1:].mean(1)  # (B, N_L)
        grid = resize_labels(raw['superpixels'], raw['feat_size'])
        level_of_sp = raw['hierarchy'][-2]  # superpixel -> last-stage token
        token = torch.gather(level_of_sp, 1,
                             grid.clamp(min=0).flatten(1)).view_as(grid)
        token = token.masked_fill(grid < 0, -1)
        B, N = weights.shape
        flat = token.flatten(1)
        counts = torch.zeros(B, N + 1, device=flat.device).scatter_add_(
            1, flat + 1, torch.ones_like(flat, dtype=torch.float))[:, 1:]
        per_cell = weights / counts.clamp(min=1)
        cell = torch.gather(per_cell, 1, flat.clamp(min=0))
        out['attention'] = cell.masked_fill(flat < 0, 0).view_as(grid)
    return out


def dense_features(backbone: nn.Module,
                   inputs: Tensor,
                   with_attention: bool = False,
                   cast_level: Union[int, str] = 'all') -> Dict:
    """Spatial tokens of a ViT or CAST as a map.

    Args:
        backbone (nn.Module): mmpretrain's ``VisionTransformer`` with
            ``out_type='featmap'`` (its last output is used), or CAST with
            ``out_type='raw'`` (and ``with_cls_attention=True`` for the
            attention).
        inputs (Tensor): ``(B, 3, H, W)`` normalised images (CAST: ``(B,
            4, H, W)``, superpixels last).
        with_attention (bool): also return the class token's attention in
            the last block, averaged over heads.
        cast_level (int | str): CAST's tokens: a stage index (its block
            tokens unpooled to the superpixels) or ``'all'`` (the mean of
            every stage's unpooled tokens, fine and coarse); tokens pass
            through CAST's final norm when it has one. Defaults to
            ``'all'``.

    Returns:
        dict: ``feats`` ``(B, C, h, w)``; ``spatial_scale`` (``h / H``, the
        grid cells per input pixel); ``attention`` ``(B, h, w)`` or None:
        the class token's weights of the spatial tokens (they sum to 1 less
        its weight of itself), per cell.
    """
    if is_cast(backbone):
        out = _cast_features(backbone, inputs, with_attention, cast_level)
    else:
        out = _vit_features(backbone, inputs[:, :3], with_attention)
    h, w = out['feats'].shape[-2:]
    H, W = inputs.shape[-2:]
    if H * w != W * h:
        raise ValueError(f'the {h}x{w} token grid does not scale evenly to '
                         f'the {H}x{W} input')
    out['spatial_scale'] = h / H
    return out
