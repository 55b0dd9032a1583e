# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional, Union

import torch
import torch.nn as nn
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
            decoder over the superpixel tokens: mmseg's
            ``SegmenterMaskTransformerHead`` applied to the ``(B, C, N, 1)``
            token "map").
        num_layers (int): mask-transformer layers. Defaults to 2.
        num_heads (int, optional): its heads; ``C // 64`` by default.
        drop_rate (float): its dropout. Defaults to 0.1 (Segmenter).
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
            self.mask_decoder = SegmenterMaskTransformerHead(
                in_channels=in_channels,
                channels=in_channels,
                num_classes=num_classes,
                num_layers=num_layers,
                num_heads=num_heads or max(1, in_channels // 64),
                embed_dims=in_channels,
                drop_rate=drop_rate,
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
        x = tokens.transpose(1, 2)[..., None]  # (B, C, N, 1)
        if self.decoder == 'linear':
            logits = self.cls_seg(x)
        else:
            logits = self.mask_decoder([x])
        logits = logits[..., 0].transpose(1, 2)  # (B, N, K)
        return scatter_to_pixels(logits, out['superpixels'])
