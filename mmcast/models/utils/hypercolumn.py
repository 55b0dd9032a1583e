# Copyright (c) mmcast contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


def chain_assignments(logits: Sequence[Tensor],
                      mask: Optional[Tensor] = None) -> List[Tensor]:
    """Chained hard labels of the level-0 tokens at every level.

    ``labels[0]`` is the identity (``arange``), ``labels[l]`` maps each
    level-0 token to its segment at level ``l`` through ``argmax`` of the
    assignment logits of every pool below it.  Nested by construction.

    Args:
        logits (Sequence[Tensor]): per pool, ``(B, N_l, N_{l+1})``.
        mask (Tensor, optional): ``(B, N_0)`` bool padding of level 0;
            padded tokens get label ``-1`` at every level.

    Returns:
        list[Tensor]: ``len(logits) + 1`` tensors of shape ``(B, N_0)``.
    """
    B, N0 = logits[0].shape[:2]
    labels = [torch.arange(N0, device=logits[0].device).expand(B, N0)]
    for logit in logits:
        labels.append(torch.gather(logit.argmax(-1), 1, labels[-1]))
    if mask is not None:
        labels = [lab.masked_fill(mask, -1) for lab in labels]
    return labels


def unpool(tokens: Tensor, labels: Tensor) -> Tensor:
    """Copy each segment's token to the level-0 tokens it contains.

    Args:
        tokens (Tensor): ``(B, N_l, C)``.
        labels (Tensor): ``(B, N_0)`` labels into ``N_l`` (``-1`` allowed,
            gives the token of segment 0; mask it downstream).

    Returns:
        Tensor: ``(B, N_0, C)``.
    """
    index = labels.clamp(min=0)[..., None].expand(-1, -1, tokens.shape[-1])
    return torch.gather(tokens, 1, index)


class HypercolumnFusion(BaseModule):
    """Fuse every stage's tokens at the superpixels (release ``BlockFusion``).

    Each stage's block output is unpooled to the level-0 tokens through the
    chained hard assignment, the levels are concatenated (``L*C``) and
    projected by ``BN1d -> Dropout -> Linear(L*C, C)``.  The class tokens of
    the stages are concatenated and projected by the same layers.  In
    training the batch statistics skip padded tokens.

    Args:
        embed_dims (int): C.
        num_levels (int): L, stages fused. Defaults to 4.
        dropout (float): Defaults to 0.2.
    """

    def __init__(self,
                 embed_dims: int,
                 num_levels: int = 4,
                 dropout: float = 0.2,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        in_dims = embed_dims * num_levels
        self.norm = nn.BatchNorm1d(in_dims)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dims, embed_dims)

    def forward(self, stage_tokens: Sequence[Tensor],
                stage_cls: Sequence[Tensor], labels: Sequence[Tensor],
                mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Fuse.

        Args:
            stage_tokens (Sequence[Tensor]): per stage ``(B, N_l, C)``.
            stage_cls (Sequence[Tensor]): per stage ``(B, 1, C)``.
            labels (Sequence[Tensor]): chained labels ``(B, N_0)`` per
                level, from :func:`chain_assignments`.
            mask (Tensor): ``(B, N_0)`` padding of level 0.

        Returns:
            tuple[Tensor, Tensor]: fused tokens ``(B, N_0, C)`` (zero at
            padding) and fused class token ``(B, 1, C)``.
        """
        tokens = torch.cat(
            [unpool(t, lab) for t, lab in zip(stage_tokens, labels)], dim=-1)
        cls = torch.cat(list(stage_cls), dim=-1)
        B, N, D = tokens.shape
        x = torch.cat([cls, tokens], dim=1)  # (B, 1+N, D)
        keep = torch.cat([mask.new_zeros(B, 1), mask], dim=1).logical_not()
        rows = x[keep]  # valid rows only
        rows = self.proj(self.drop(self.norm(rows)))
        out = rows.new_zeros(B, 1 + N, rows.shape[-1])
        out[keep] = rows
        return out[:, 1:], out[:, :1]
