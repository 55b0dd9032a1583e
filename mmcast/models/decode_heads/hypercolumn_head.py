# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.decode_heads.segmenter_mask_head import \
    SegmenterMaskTransformerHead
from torch import Tensor

from mmcast.models.utils.hypercolumn import HypercolumnFusion
from mmcast.models.utils.superpixel_ops import scatter_to_pixels
from mmcast.registry import register_model


@register_model
class HypercolumnUnpoolHead(BaseDecodeHead):
    """Per-superpixel classification of CAST's hypercolumn features.

    Input: the CAST backbone's ``'raw'`` output.  Each stage's tokens are
    unpooled to the superpixels through the chained hard assignment and the
    levels are fused (``BN1d -> Dropout -> Linear``, the release's
    ``BlockFusion``) — by the backbone when it was built with
    ``with_fusion=True`` (the release's layout, so release segmentation
    checkpoints load into the backbone), else by this head when ``fusion``
    is given.  A decoder classifies every superpixel and its logits are
    painted on the pixels of the superpixel, so mmseg's losses, resizing and
    metrics apply unchanged.  Pixels with no superpixel (padding) get zero
    logits; their ground truth is the ignore index.

    Args:
        in_channels (int): C, the backbone's embedding width.
        num_classes (int): number of classes.
        decoder (str): ``'linear'`` (a linear layer per superpixel),
            ``'conv'`` (two 1x1 convolutions per superpixel: conv + the
            head's ``norm_cfg`` + ReLU to ``channels``, then the classifier;
            the paper's VOC transfer head, Table 3a; the norm's statistics
            skip padded superpixels) or ``'mask_transformer'`` (Segmenter's
            decoder over the superpixel tokens, the release's
            ``SuperpixMaskTransformer``; the layers are mmseg's
            ``SegmenterMaskTransformerHead``'s, run with the padded tokens
            masked out of attention).
        num_layers (int): mask-transformer layers. Defaults to 2.
        num_heads (int, optional): its heads; ``embed_dims // 64`` by
            default (the release's rule).
        embed_dims (int, optional): its width (the release's ``d_model``);
            ``in_channels`` by default.
        mlp_ratio (int): its MLP width over ``embed_dims``. Defaults to 4.
        drop_rate (float): its dropout, on attention weights, after the
            attention and in the MLP, as in Segmenter's blocks. Defaults to
            0.1.
        drop_path_rate (float): its stochastic depth. Defaults to 0.
        fusion (dict, optional): build a :class:`HypercolumnFusion` here,
            e.g. ``dict(num_levels=4, dropout=0.2)``, for backbones built
            without fusion.
        **kwargs: :class:`BaseDecodeHead` options (``loss_decode``,
            ``dropout_ratio`` of the linear decoder, ``ignore_index``...).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 decoder: str = 'linear',
                 num_layers: int = 2,
                 num_heads: Optional[int] = None,
                 embed_dims: Optional[int] = None,
                 mlp_ratio: int = 4,
                 drop_rate: float = 0.1,
                 drop_path_rate: float = 0.,
                 fusion: Optional[dict] = None,
                 **kwargs):
        kwargs.setdefault('channels', in_channels)
        super().__init__(in_channels=in_channels, num_classes=num_classes,
                         **kwargs)
        if decoder not in ('linear', 'conv', 'mask_transformer'):
            raise ValueError("decoder must be 'linear', 'conv' or "
                             f"'mask_transformer', got {decoder!r}")
        self.decoder = decoder
        if decoder == 'conv':
            self.conv = ConvModule(in_channels, self.channels, 1,
                                   norm_cfg=self.norm_cfg,
                                   act_cfg=self.act_cfg)
        self.fusion = HypercolumnFusion(in_channels, **fusion) \
            if fusion is not None else None
        if decoder == 'mask_transformer':
            embed_dims = embed_dims or in_channels
            self.mask_decoder = SegmenterMaskTransformerHead(
                in_channels=in_channels,
                channels=embed_dims,
                num_classes=num_classes,
                num_layers=num_layers,
                num_heads=num_heads or max(1, embed_dims // 64),
                embed_dims=embed_dims,
                mlp_ratio=mlp_ratio,
                drop_rate=drop_rate,
                attn_drop_rate=drop_rate,
                drop_path_rate=drop_path_rate,
                dropout_ratio=0.)
            # Only its transformer is used: no unused parameters for DDP
            # (an Identity keeps BaseDecodeHead's conv_seg init override
            # valid).
            self.mask_decoder.conv_seg = nn.Identity()
            self.conv_seg = nn.Identity()

    def init_weights(self):
        super().init_weights()
        if self.decoder == 'mask_transformer':
            self.mask_decoder.init_weights()

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: list) -> Tensor:
        """Logits at the input size already: skip mmseg's same-size
        bilinear resize (a full copy of ``(B, K, H, W)``), else resize."""
        meta = batch_img_metas[0]
        size = meta['img_shape'] if isinstance(meta['img_shape'],
                                               torch.Size) else \
            meta.get('pad_shape', meta['img_shape'])[:2]
        if tuple(seg_logits.shape[-2:]) == tuple(size):
            return seg_logits
        return super().predict_by_feat(seg_logits, batch_img_metas)

    def superpixel_features(self, out: dict) -> Tensor:
        """Fused per-superpixel features ``(B, N0, C)``."""
        if 'fused_tokens' in out:
            return out['fused_tokens']
        if self.fusion is None:
            raise ValueError(
                'HypercolumnUnpoolHead needs fused tokens: build the CAST '
                'backbone with with_fusion=True, or give the head fusion='
                'dict(num_levels=4)')
        stages = out['stages']
        return self.fusion([s['tokens'] for s in stages],
                           [s['cls_token'] for s in stages],
                           out['hierarchy'][:-1], stages[0]['mask'])[0]

    def forward(self, inputs: Union[dict, tuple, list]) -> Tensor:
        """Pixel logits ``(B, num_classes, H, W)`` at the input resolution.

        Args:
            inputs (dict | tuple): the backbone's ``'raw'`` output (or a
                one-element tuple of it).
        """
        out = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        if not isinstance(out, dict) or 'superpixels' not in out:
            raise TypeError("HypercolumnUnpoolHead takes the CAST "
                            "backbone's raw output: set the backbone's "
                            "out_type='raw'")
        tokens = self.superpixel_features(out)  # (B, N, C)
        if self.decoder == 'conv':
            # The valid superpixels of the batch as one (1, C, M, 1) map, so
            # that the norm's statistics skip padding.
            keep = ~out['stages'][0]['mask']
            rows = self.cls_seg(self.conv(tokens[keep].t()[None, :, :, None]))
            logits = rows.new_zeros(*tokens.shape[:2], rows.shape[1])
            logits[keep] = rows[0, :, :, 0].t()
            return scatter_to_pixels(logits, out['superpixels'])
        if self.decoder == 'linear':
            x = tokens.transpose(1, 2)[..., None]  # (B, C, N, 1)
            logits = self.cls_seg(x)[..., 0].transpose(1, 2)  # (B, N, K)
        else:
            logits = self.mask_transformer(tokens, out['stages'][0]['mask'])
        return scatter_to_pixels(logits, out['superpixels'])

    def mask_transformer(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """Segmenter's mask transformer on the superpixel tokens.

        What the release's ``SuperpixMaskTransformer`` computes: project
        the tokens, append one learned embedding per class, run the
        layers, LayerNorm, project tokens and class embeddings, take their
        cosine similarities and LayerNorm them over the classes.  Padded
        tokens (a batch-mate has more superpixels) are keys no token
        attends to, so every image gets its result alone.

        Args:
            tokens (Tensor): ``(B, N, C)`` superpixel features.
            mask (Tensor): ``(B, N)`` bool, True at padded tokens.

        Returns:
            Tensor: ``(B, N, num_classes)`` scores.
        """
        dec = self.mask_decoder
        B, K = tokens.shape[0], self.num_classes
        x = dec.dec_proj(tokens)
        x = torch.cat([x, dec.cls_emb.expand(B, -1, -1)], dim=1)
        key_mask = None
        if bool(mask.any()):
            key_mask = torch.cat([mask, mask.new_zeros(B, K)], dim=1)
        for layer in dec.layers:
            x = layer.attn(layer.ln1(x), identity=x,
                           key_padding_mask=key_mask)
            x = layer.ffn(layer.ln2(x), identity=x)
        x = dec.decoder_norm(x)
        patches = F.normalize(dec.patch_proj(x[:, :-K]), dim=-1)
        classes = F.normalize(dec.classes_proj(x[:, -K:]), dim=-1)
        return dec.mask_norm(patches @ classes.transpose(1, 2))
