# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from mmcast.models.utils.token_pool import TokenPool
from mmcast.models.utils.attention import MaskedSelfAttention
from mmcast.models.utils.centroid_sampling import (check_centroid_init,
                                                    random_token_sampling)
from mmcast.models.utils.fps import farthest_point_sampling
from mmcast.registry import register_model


class CentroidRefiner(nn.Module):
    """``U = Z + MSA(LN(Z))``, then ``U - mean_tokens(U) + bias``.

    The attention-only block of GraphPool (no MLP); the mean is over the
    valid tokens of each image.
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool,
                 norm_cfg: dict):
        super().__init__()
        self.ln = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MaskedSelfAttention(embed_dims, num_heads, qkv_bias)
        self.bias = nn.Parameter(torch.zeros(embed_dims).normal_(0, 1e-2))

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        x = x + self.attn(self.ln(x), mask)
        if mask is None:
            mean = x.mean(dim=1, keepdim=True)
        else:
            keep = (~mask)[..., None].to(x.dtype)
            mean = (x * keep).sum(1, keepdim=True) / keep.sum(
                1, keepdim=True).clamp(min=1)
        return x - mean + self.bias


@register_model
class GraphPool(TokenPool):
    """GraphPool: merge N tokens into K segments (CAST, Algorithm 1).

    1. centroids: farthest point sampling over the token features, seeded
       from the mean valid token (:func:`farthest_point_sampling`), or K
       tokens drawn at random (``centroid_init='random'``, Table 5b);
    2. refinement: :class:`CentroidRefiner` on the tokens;
    3. assignment logits: ``kappa * cos(U_i, U_c)`` over the K centroids;
       ``P = softmax`` over clusters;
    4. pooled tokens: ``fc2(P^T fc1(Z) / P^T 1) + Z[centroids]``; the class
       token, when given, becomes ``fc2(fc1(cls)) + cls``.

    Padding: padded input tokens are never sampled, are excluded from the
    refinement attention and mean, and get no weight in the pooled means.
    An image with fewer valid tokens than K gets one cluster per valid token;
    the remaining cluster slots are padding (``out['mask']``), their logits
    are ``-inf`` and they receive no assignment.  This is the documented
    departure from the release, which lets padding (all-zero) tokens take
    part; with no padding both compute the same numbers.

    Also usable as a neck: given the feature maps of a backbone it pools the
    last one (``(B, C, H, W)`` or ``(B, N, C)``) into K segment tokens.

    Args:
        embed_dims (int): C.
        num_clusters (int): K, may be overridden per call.
        num_heads (int): heads of the refinement attention; 12 in the
            release whatever the backbone's head count.
        kappa (float): temperature of the cosine logits. Defaults to 5.
        dropout (float): dropout in ``fc1``. Defaults to 0.1.
        qkv_bias (bool): Defaults to True.
        norm_cfg (dict): norm of the refinement block (LN, eps 1e-6).
        l2_normalize_for_fps (bool): sample on L2-normalised features
            (False in CAST).
        centroid_init (str): ``'fps'`` (default, the paper's) or
            ``'random'`` (:func:`random_token_sampling`: a new draw every
            call, from torch's global generator).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_clusters: int = 8,
                 num_heads: int = 12,
                 kappa: float = 5.,
                 dropout: float = 0.1,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 l2_normalize_for_fps: bool = False,
                 centroid_init: str = 'fps',
                 init_cfg=None):
        super().__init__(embed_dims, num_clusters, init_cfg=init_cfg)
        self.kappa = kappa
        self.l2_normalize_for_fps = l2_normalize_for_fps
        self.centroid_init = check_centroid_init(centroid_init)
        self.refine = CentroidRefiner(embed_dims, num_heads, qkv_bias,
                                      norm_cfg)
        # The release builds these with nn.LayerNorm's default eps (1e-5).
        self.fc1 = nn.Sequential(
            nn.LayerNorm(embed_dims), nn.Linear(embed_dims, embed_dims * 4),
            nn.GELU(), nn.Dropout(dropout))
        self.fc2 = nn.Sequential(
            nn.LayerNorm(embed_dims * 4),
            nn.Linear(embed_dims * 4, embed_dims))

    def pool(self,
             tokens: Tensor,
             cls_token: Optional[Tensor] = None,
             mask: Optional[Tensor] = None,
             num_clusters: Optional[int] = None) -> Dict[str, Tensor]:
        """Pool a token set.

        Args:
            tokens (Tensor): ``(B, N, C)``.
            cls_token (Tensor, optional): ``(B, 1, C)``.
            mask (Tensor, optional): ``(B, N)`` bool, True = padding.
            num_clusters (int, optional): K; defaults to ``num_clusters``.
                Capped at N (see the class docstring for K > valid tokens).

        Returns:
            dict: ``tokens`` ``(B, K, C)`` pooled tokens; ``cls_token``
            ``(B, 1, C)`` or None; ``logits`` ``(B, N, K)`` kappa-scaled
            cosines (``-inf`` at padded clusters); ``fps_idx`` ``(B, K)``
            sampled token indices; ``mask`` ``(B, K)`` bool padding of the
            pooled set.
        """
        C = tokens.shape[-1]
        mask, K = self._prepare(tokens, mask, num_clusters)
        if self.centroid_init == 'random':
            fps_idx, out_mask = random_token_sampling(mask, K)
        else:
            sampling = F.normalize(tokens, dim=-1) \
                if self.l2_normalize_for_fps else tokens
            fps_idx, out_mask = farthest_point_sampling(sampling, K, mask)
        gather_idx = fps_idx[..., None].expand(-1, -1, C)

        refined = self.refine(tokens, mask)
        centroids = torch.gather(refined, 1, gather_idx)
        logits = self.kappa * torch.einsum(
            'bnc,bkc->bnk', F.normalize(refined, dim=-1),
            F.normalize(centroids, dim=-1))
        logits = logits.masked_fill(out_mask[:, None, :], float('-inf'))
        assign = logits.softmax(dim=-1)
        assign = assign.masked_fill(mask[..., None], 0.)

        if cls_token is not None:
            hidden = self.fc1(torch.cat([cls_token, tokens], dim=1))
            cls_hidden, hidden = hidden[:, :1], hidden[:, 1:]
        else:
            hidden = self.fc1(tokens)
        weight = assign.sum(1)[..., None]  # (B, K, 1)
        means = torch.einsum('bnk,bnc->bkc', assign, hidden) / weight.clamp(
            min=torch.finfo(weight.dtype).tiny)
        if cls_token is not None:
            out = self.fc2(torch.cat([cls_hidden, means], dim=1))
            new_cls, out = out[:, :1] + cls_token, out[:, 1:]
        else:
            new_cls, out = None, self.fc2(means)
        pooled = out + torch.gather(tokens, 1, gather_idx)
        pooled = pooled.masked_fill(out_mask[..., None], 0.)
        return dict(
            tokens=pooled,
            cls_token=new_cls,
            logits=logits,
            fps_idx=fps_idx,
            mask=out_mask)
