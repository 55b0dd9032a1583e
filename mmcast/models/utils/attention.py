# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import Tensor


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention whose keys can be masked out.

    Parameter names (``qkv``, ``proj``) follow timm and mmpretrain, so the
    release's weights map one to one.

    Args:
        embed_dims (int): C.
        num_heads (int): number of heads; C must divide by it.
        qkv_bias (bool): bias of the qkv projection. Defaults to True.
        attn_drop (float): dropout on attention weights. Defaults to 0.
        proj_drop (float): dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self,
                x: Tensor,
                key_mask: Optional[Tensor] = None,
                return_cls_attention: bool = False):
        """Attend.

        Args:
            x (Tensor): ``(B, N, C)`` tokens.
            key_mask (Tensor, optional): ``(B, N)`` bool, True for tokens
                that must not be attended to (padding).
            return_cls_attention (bool): also return the attention weights
                of the first token's query (the class token's).

        Returns:
            Tensor: ``(B, N, C)``; with ``return_cls_attention`` a tuple of
            it and the ``(B, heads, N)`` weights (softmax over the keys,
            padded keys 0).
        """
        B, N, C = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn_mask = None
        # Skip an all-False mask in eager mode (faster kernels); traced
        # (torch.export, torch.compile) the mask is always applied: the
        # graph cannot branch on its values, and the result is the same.
        if key_mask is not None and (torch.compiler.is_compiling()
                                     or bool(key_mask.any())):
            attn_mask = (~key_mask)[:, None, None, :]
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_drop if self.training else 0.)
        x = x.transpose(1, 2).reshape(B, N, C)
        x = self.proj_drop(self.proj(x))
        if not return_cls_attention:
            return x
        # The fused kernel gives no weights: recompute the class row only.
        scores = q[:, :, :1] @ k.transpose(-2, -1) * q.shape[-1]**-0.5
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float('-inf'))
        return x, scores.softmax(-1)[:, :, 0]


class TransformerBlock(BaseModule):
    """Pre-norm ViT block (attention + MLP) with a key padding mask.

    Args:
        embed_dims (int): C.
        num_heads (int): attention heads.
        mlp_ratio (float): hidden width of the MLP over C. Defaults to 4.
        qkv_bias (bool): Defaults to True.
        drop_rate (float): dropout after attention and in the MLP.
        attn_drop_rate (float): dropout on attention weights.
        drop_path_rate (float): stochastic depth of both branches.
        norm_cfg (dict): Defaults to LayerNorm with eps 1e-6 (the release).
        act_cfg (dict): MLP activation. Defaults to GELU.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MaskedSelfAttention(embed_dims, num_heads, qkv_bias,
                                        attn_drop_rate, drop_rate)
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate))
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=act_cfg,
            add_identity=True)

    def forward(self,
                x: Tensor,
                key_mask: Optional[Tensor] = None,
                return_cls_attention: bool = False):
        """``(B, N, C)`` -> ``(B, N, C)``; ``key_mask`` as in attention;
        with ``return_cls_attention`` also the class token's ``(B, heads,
        N)`` attention weights."""
        y = self.attn(self.ln1(x), key_mask, return_cls_attention)
        y, attn = y if return_cls_attention else (y, None)
        x = x + self.drop_path(y)
        x = self.ffn(self.ln2(x), identity=x)
        return (x, attn) if return_cls_attention else x
