# Copyright (c) mmcast contributors. All rights reserved.
"""CAST: superpixel tokens merged stage by stage with GraphPool.

Ke et al., "Learning Hierarchical Image Segmentation For Recognition and By
Recognition", ICLR 2024.  Numerically equal to the authors' release on its
checkpoints (see ``tools/model_converters/cast2mmcast.py``).

Data flow, top to bottom::

    image (B,3,H,W), superpixels (B,H,W)
    -> conv stem, stride 8                              (B,C,H/8,W/8)
    -> mean per superpixel (+ mean position)            tokens (B,N0,C)
    -> for each stage: ViT blocks on [cls; tokens], GraphPool to N_{l+1}
    -> class token (LayerNorm), per-stage tokens and assignment logits,
       chained hard labels per superpixel for every level.
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import initialize, trunc_normal_
from torch import Tensor

from mmcast.models.utils.attention import TransformerBlock
from mmcast.models.utils.hypercolumn import (HypercolumnFusion,
                                             chain_assignments, unpool)
from mmcast.models.utils.stem import ConvStem, build_stem
from mmcast.models.utils.superpixel_ops import (relabel_superpixels,
                                                resize_labels,
                                                scatter_to_pixels,
                                                segment_mean,
                                                upsampled_segment_mean)
from mmcast.models.utils.superpixel_policy import (MISSING_SUPERPIXELS,
                                                   SuperpixelPolicy)
from mmcast.models.utils.token_pool import build_token_pool
from mmcast.registry import register_model


def release_sincos_table(grid_h: int, grid_w: int, embed_dims: int,
                         temperature: float = 10000.) -> Tensor:
    """The MoCo v3 release's fixed 2-D sin-cos table, ``(1, h*w, C)``.

    Built as the release builds it: ``meshgrid`` in ``(w, h)`` order, so
    when viewed as ``(h, w, C)`` the rows run along ``w`` first (a quirk
    the published checkpoints were trained with).
    """
    if embed_dims % 4:
        raise ValueError('sin-cos position embedding needs embed_dims '
                         f'divisible by 4, got {embed_dims}')
    grid_w, grid_h = torch.meshgrid(
        torch.arange(grid_w, dtype=torch.float32),
        torch.arange(grid_h, dtype=torch.float32),
        indexing='ij')
    pos_dim = embed_dims // 4
    omega = 1. / (temperature**(torch.arange(pos_dim) / pos_dim))
    out_w = grid_w.flatten()[:, None] * omega[None]
    out_h = grid_h.flatten()[:, None] * omega[None]
    return torch.cat(
        [out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]


@register_model
class CAST(BaseModule):
    """CAST backbone (registered in mmseg and mmpretrain).

    Args:
        arch (str | dict): ``'small'``/``'s'``, ``'small-deep'``/``'sd'``,
            ``'base'``/``'b'``, ``'base-deep'``/``'bd'``, or a dict with
            ``embed_dims``, ``depths`` (per stage), ``num_heads`` and
            optionally ``num_clusters``.
        img_size (int | tuple): size the position table is built for
            (its grid is ``img_size / 8``). Defaults to 224.
        num_clusters (Sequence[int], optional): segments after each stage's
            GraphPool; free at inference.  Defaults to the arch's, else
            ``(64, 32, 16, 8)``.  A stage whose input has fewer valid tokens
            than asked keeps one cluster per valid token (the rest padding).
        pos_embed (str): ``'sincos'`` (fixed, MoCo v3 release) or
            ``'learned'`` (DeiT release, ``(1, 1 + grid, C)``).
        token_pooling (str): where superpixel means are taken: ``'stem'``
            (labels resized to the stride-8 grid, classification release;
            a superpixel no grid cell samples becomes a padded token) or
            ``'full'`` (stem features bilinearly, positions bicubically
            resized to the label map, segmentation release).
        with_fusion (bool): hypercolumn fusion of the stages' tokens at the
            superpixels (segmentation release).
        fusion_dropout (float): dropout in the fusion. Defaults to 0.2.
        freeze_last_pool (bool): the classification release trains no
            weight of the last GraphPool (its logits still give the
            coarsest level).
        final_norm (bool): LayerNorm on the class token. The self-supervised
            segmentation release has none.
        pool_num_heads (int): heads of GraphPool's refinement. Defaults 12.
        kappa (float): GraphPool's cosine temperature. Defaults to 5.
        mlp_ratio (float), qkv_bias (bool): ViT block settings.
        drop_rate, attn_drop_rate, drop_path_rate (float): regularisation;
            drop path grows linearly over all blocks.
        norm_cfg (dict): block norm. Defaults to LN with eps 1e-6.
        out_type (str): what :meth:`forward` returns: ``'cls_token'`` a
            tuple ``(cls_feat,)`` of ``(B, C)`` (mmpretrain heads);
            ``'raw'`` the full output dict (see :meth:`forward`);
            ``'featmap'`` a tuple of one ``(B, C, H/8, W/8)`` map per stage
            (stock mmseg heads: each level's tokens unpooled to the
            superpixels and painted on the stride-8 grid).
        frozen_stages (int): stages (with the stem, positions and class
            token) kept frozen and in eval mode; ``-1`` none, ``0`` stem
            only, ``len(depths)`` everything.
        with_cls_attention (bool): the ``'raw'`` output also holds
            ``cls_attention``, the class token's attention weights in the
            last block of the last stage (Leopart's foreground). Defaults
            to False (nothing else changes).
        missing_superpixels (str | dict): what a call with plain
            ``(B, 3, H, W)`` images and no superpixels does: ``'seeds'``
            (default; SEEDS of the images, warned once), ``'slic'``,
            ``'grid'`` (``16 x 16`` patches) or ``'error'``; or a dict of
            :class:`~mmcast.models.utils.SuperpixelPolicy` arguments, e.g.
            ``dict(policy='seeds', mean=[...], std=[...])`` with the data
            preprocessor's normalisation (undone exactly; without it each
            image's value range is stretched to 0..255).  SEEDS uses the
            release's classification settings with ``token_pooling='stem'``
            and its segmentation settings with ``'full'``.
        stem (str, optional): ``'conv'`` (the release's stride-8 stem),
            ``'patch'`` (a ViT patch embedding of stride ``patch_size``:
            on a superpixel map that is the patch grid, CAST's tokens are
            a ViT's patch tokens), or None (no tokenizer: the tokens come
            from another backbone, see
            :class:`~mmcast.models.necks.GraphPoolNeck`).  The position
            table is built on the stem's grid (``img_size / stride``).
        patch_size (int): stride of the ``'patch'`` stem (and the patch
            size of the tokens given to a stem-less model). Defaults to 16.
        pooling (dict, optional): the token pooling ending every stage,
            from the model registry (see :mod:`mmcast.models.necks`):
            ``dict(type='GraphPool')`` (default; ``pool_num_heads``,
            ``kappa`` and ``qkv_bias`` apply to it), ``'KMeansPool'``,
            ``'RandomSamplingPool'``, ``'ToMePool'``; ``centroid_init=
            'random'`` for GraphPool's random centroids.  None switches
            pooling off: every stage keeps the N0 superpixel tokens, the
            levels of the hierarchy repeat the superpixels and
            ``num_clusters`` becomes ``[None] * num_stages``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=...)`` with a file from ``cast2mmcast.py``.
    """
    arch_zoo = {
        **dict.fromkeys(['s', 'small'], dict(
            embed_dims=384, depths=(3, 3, 3, 2), num_heads=12)),
        **dict.fromkeys(['sd', 'small-deep'], dict(
            embed_dims=384, depths=(6, 3, 3, 3), num_heads=12)),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=768, depths=(3, 3, 3, 2), num_heads=12)),
        **dict.fromkeys(['bd', 'base-deep'], dict(
            embed_dims=768, depths=(6, 3, 3, 3), num_heads=12)),
    }
    out_types = ('cls_token', 'raw', 'featmap')

    def __init__(self,
                 arch: Union[str, dict] = 'small',
                 img_size: Union[int, Sequence[int]] = 224,
                 num_clusters: Optional[Sequence[int]] = None,
                 pos_embed: str = 'sincos',
                 token_pooling: str = 'stem',
                 with_fusion: bool = False,
                 fusion_dropout: float = 0.2,
                 freeze_last_pool: bool = False,
                 final_norm: bool = True,
                 pool_num_heads: int = 12,
                 kappa: float = 5.,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 out_type: str = 'cls_token',
                 frozen_stages: int = -1,
                 with_cls_attention: bool = False,
                 missing_superpixels: Union[str, dict] = 'seeds',
                 stem: Optional[str] = 'conv',
                 patch_size: int = 16,
                 pooling: Optional[dict] = dict(type='GraphPool'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f'unknown CAST arch {arch!r}; choose from '
                               f'{sorted(self.arch_zoo)} or pass a dict')
            arch = self.arch_zoo[arch.lower()]
        missing = {'embed_dims', 'depths', 'num_heads'} - set(arch)
        if missing:
            raise KeyError(f'custom CAST arch lacks {sorted(missing)}')
        if pos_embed not in ('sincos', 'learned'):
            raise ValueError(f"pos_embed must be 'sincos' or 'learned', "
                             f'got {pos_embed!r}')
        if token_pooling not in ('stem', 'full'):
            raise ValueError(f"token_pooling must be 'stem' or 'full', got "
                             f'{token_pooling!r}')
        if out_type not in self.out_types:
            raise ValueError(f'out_type must be one of {self.out_types}, '
                             f'got {out_type!r}')
        self.embed_dims = C = arch['embed_dims']
        self.depths = tuple(arch['depths'])
        self.num_stages = len(self.depths)
        num_clusters = num_clusters or arch.get('num_clusters',
                                                (64, 32, 16, 8))
        self.num_clusters = list(num_clusters)
        if len(self.num_clusters) != self.num_stages:
            raise ValueError(f'{self.num_stages} stages need as many cluster '
                             f'counts, got {self.num_clusters}')
        self.pos_embed_type = pos_embed
        self.token_pooling = token_pooling
        self.out_type = out_type
        self.frozen_stages = frozen_stages
        self.with_cls_attention = with_cls_attention
        self.superpixel_policy = SuperpixelPolicy.build(
            missing_superpixels, channel_order='rgb', where='backbone',
            preset='classification' if token_pooling == 'stem' else
            'segmentation')
        img_size = (img_size, img_size) if isinstance(img_size, int) \
            else tuple(img_size)

        # Tokenizer: stem, class token and a position table on the stem's
        # grid; none when the tokens come from another backbone.
        self.stem, self.patch_size = (None, patch_size) if stem is None \
            else build_stem(stem, C, patch_size)
        self.grid_size = (img_size[0] // self.patch_size,
                          img_size[1] // self.patch_size)
        num_grid = self.grid_size[0] * self.grid_size[1]
        if stem is None:
            self.cls_token = self.pos_embed = None
        else:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
            if pos_embed == 'sincos':
                self.register_buffer(
                    'pos_embed', release_sincos_table(*self.grid_size, C),
                    persistent=False)
            else:
                self.pos_embed = nn.Parameter(
                    torch.zeros(1, 1 + num_grid, C))
        self.drop_after_pos = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        self.stages = ModuleList()
        for i, depth in enumerate(self.depths):
            stage = BaseModule()
            stage.blocks = ModuleList([
                TransformerBlock(
                    C, arch['num_heads'], mlp_ratio, qkv_bias, drop_rate,
                    attn_drop_rate, dpr.pop(0), norm_cfg)
                for _ in range(depth)
            ])
            stage.pool = build_token_pool(
                pooling, C, self.num_clusters[i], num_heads=pool_num_heads,
                kappa=kappa, qkv_bias=qkv_bias)
            self.stages.append(stage)
        # The poolings own the cluster counts (None: the tokens are kept).
        self.num_clusters = [stage.pool.num_clusters for stage in self.stages]
        if freeze_last_pool:
            self.stages[-1].pool.requires_grad_(False)

        self.norm = build_norm_layer(norm_cfg, C)[1] if final_norm else None
        self.fusion = HypercolumnFusion(C, self.num_stages, fusion_dropout) \
            if with_fusion else None
        self._freeze_stages()

    # ------------------------------------------------------------------
    # Initialisation and freezing
    def init_weights(self):
        """CAST's own initialisation, then a ``Pretrained`` checkpoint.

        Every weight first gets the release's initialisation (MoCo v3 ViT:
        Xavier-uniform linear layers, zero biases, tiny class token), then
        a ``Pretrained`` ``init_cfg`` loads its checkpoint over it, so the
        weights a checkpoint lacks (e.g. the fusion layers when starting
        a segmentor from a classification checkpoint) keep CAST's
        initialisation, not PyTorch's defaults.
        """
        original = self.init_cfg
        cfgs = original if isinstance(original, list) else \
            [original] if original else []
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        self.init_cfg = [c for c in cfgs if c not in pretrained] or None
        try:
            super().init_weights()  # children's and non-Pretrained inits
        finally:
            self.init_cfg = original
        self._init_release()
        if pretrained:
            initialize(self, pretrained)

    def _init_release(self):
        """The release's initialisation (MoCo v3 ViT)."""
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if name.endswith('qkv'):
                    val = math.sqrt(6. / (m.weight.shape[0] // 3 +
                                          m.weight.shape[1]))
                    nn.init.uniform_(m.weight, -val, val)
                else:
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        if isinstance(self.pos_embed, nn.Parameter):
            trunc_normal_(self.pos_embed, std=.02)

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        frozen = [self.stem] if self.stem is not None else []
        for param in (self.pos_embed, self.cls_token):
            if isinstance(param, nn.Parameter):
                param.requires_grad = False
        frozen += list(self.stages[:self.frozen_stages])
        if self.frozen_stages >= self.num_stages:
            frozen += [m for m in (self.norm, self.fusion) if m is not None]
        for m in frozen:
            m.eval()
            m.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    # ------------------------------------------------------------------
    # Forward
    def _position_map(self) -> Tensor:
        """Position table as a ``(1, C, gh, gw)`` map (grid part only)."""
        table = self.pos_embed
        if self.pos_embed_type == 'learned':
            table = table[:, 1:]
        gh, gw = self.grid_size
        return table.reshape(1, gh, gw, -1).permute(0, 3, 1, 2)

    def _cls_position(self) -> Tensor:
        if self.pos_embed_type == 'learned':
            return self.pos_embed[:, :1]
        return self.cls_token.new_zeros(1, 1, self.embed_dims)

    def split_inputs(self, x: Tensor, superpixels: Optional[Tensor]):
        """Separate an image batch and its superpixel map.

        Args:
            x (Tensor): ``(B, 3, H, W)`` normalised images, or ``(B, 4, H,
                W)`` with the superpixel map as the last channel (what the
                CAST data preprocessors produce).
            superpixels (Tensor, optional): ``(B, H, W)`` labels; when
                neither they nor a 4th channel are given, the
                ``missing_superpixels`` policy makes them.

        Returns:
            tuple[Tensor, Tensor]: images ``(B, 3, H, W)`` and labels.
        """
        if superpixels is None:
            if x.dim() != 4 or x.shape[1] not in (3, 4):
                raise ValueError(f'{MISSING_SUPERPIXELS} (got input of shape '
                                 f'{tuple(x.shape)})')
            if x.shape[1] == 4:
                x, superpixels = x[:, :3], x[:, 3]
            else:
                superpixels = torch.stack(self.superpixel_policy.compute(x))
        if superpixels.shape[-2:] != x.shape[-2:] or \
                superpixels.shape[0] != x.shape[0]:
            raise ValueError(
                f'superpixels {tuple(superpixels.shape)} do not match the '
                f'images {tuple(x.shape)}: one (H, W) map per image')
        return x, superpixels

    @staticmethod
    def superpixel_labels(superpixels: Tensor,
                          num_superpixels: Optional[int] = None):
        """Contiguous labels, per-image counts and the token count N.

        Args:
            superpixels (Tensor): ``(B, H, W)`` labels (any ids; negative =
                none).
            num_superpixels (int, optional): declares the labels already
                contiguous, ``0..N-1`` with every id present in every image
                (grid superpixels, a fixed SEEDS count...); they are then
                used as they are, so nothing depends on their values (what
                ``torch.export`` needs).

        Returns:
            tuple: labels ``(B, H, W)`` int64, counts ``(B,)``, N (int).
        """
        if num_superpixels is not None:
            counts = torch.full(superpixels.shape[:1], num_superpixels,
                                dtype=torch.long, device=superpixels.device)
            labels = superpixels.round() if superpixels.is_floating_point() \
                else superpixels
            return labels.long(), counts, int(num_superpixels)
        labels, counts = relabel_superpixels(superpixels)
        if bool((counts == 0).any()):
            raise ValueError('an image of the batch has no superpixel '
                             '(every label is negative)')
        return labels, counts, int(counts.max())

    def embed(self, img: Tensor, superpixels: Tensor,
              num_superpixels: Optional[int] = None) -> Dict[str, Tensor]:
        """Segment tokens: stem features and positions averaged per
        superpixel.

        Args:
            img (Tensor): ``(B, 3, H, W)``.
            superpixels (Tensor): ``(B, H, W)`` labels (any ids; negative =
                none).
            num_superpixels (int, optional): see :meth:`superpixel_labels`.

        Returns:
            dict: ``tokens`` ``(B, N0, C)`` (position added), ``cls``
            ``(B, 1, C)`` the class token (position added), ``mask``
            ``(B, N0)`` padding, ``labels`` ``(B, H, W)`` contiguous
            labels, ``num_superpixels`` ``(B,)``, ``feat_size`` (h, w).
        """
        labels, counts, N = self.superpixel_labels(superpixels,
                                                   num_superpixels)
        if isinstance(self.stem, ConvStem):
            # Its last layer (1x1 convolution) is affine: it is applied to
            # the segment means instead of to every cell of the grid.
            feats, project = self.stem.features(img), self.stem.project
        else:
            feats, project = self.stem(img), None
        h, w = feats.shape[-2:]
        pos = self._position_map()
        if self.token_pooling == 'stem':
            grid_labels = resize_labels(labels, (h, w))
            if pos.shape[-2:] != (h, w):
                pos = F.interpolate(pos, size=(h, w), mode='bicubic',
                                    align_corners=False)
            tokens, pix = segment_mean(feats, grid_labels, N)
            pos_tokens = segment_mean(
                pos.expand(feats.shape[0], -1, -1, -1), grid_labels, N)[0]
        else:
            tokens = upsampled_segment_mean(feats, labels, N, 'bilinear')
            pos_tokens = upsampled_segment_mean(pos, labels, N, 'bicubic')
            pix = (torch.arange(N, device=img.device)[None] <
                   counts[:, None]).to(tokens.dtype)
        if project is not None:
            # Empty segments stay zero (no bias).
            tokens = project(tokens).masked_fill(pix[..., None] == 0, 0.)
        tokens = self.drop_after_pos(tokens + pos_tokens)
        cls = (self.cls_token + self._cls_position()).expand(
            tokens.shape[0], -1, -1)
        return dict(tokens=tokens, cls=cls, mask=pix == 0, labels=labels,
                    num_superpixels=counts, feat_size=(h, w))

    def forward(self,
                x: Tensor,
                superpixels: Optional[Tensor] = None,
                num_clusters: Optional[Sequence[int]] = None,
                num_superpixels: Optional[int] = None):
        """Run CAST.

        Args:
            x (Tensor): ``(B, 3, H, W)`` images, or ``(B, 4, H, W)`` with the
                superpixel labels as the last channel.
            superpixels (Tensor, optional): ``(B, H, W)`` labels.
            num_clusters (Sequence[int], optional): override of the
                clusters per stage for this call.
            num_superpixels (int, optional): the superpixels are contiguous
                ``0..N-1``, all present (see :meth:`superpixel_labels`);
                for exported graphs (``mmcast.deployment``).

        Returns:
            By ``out_type``: ``'cls_token'`` -> ``(cls_feat,)``;
            ``'featmap'`` -> one ``(B, C, h, w)`` map per stage; ``'raw'`` ->
            a dict with

            - ``stages``: per stage a dict of ``tokens`` ``(B, N_l, C)``
              and ``block_cls`` ``(B, 1, C)`` (block outputs, before
              pooling), ``cls_token`` ``(B, 1, C)`` (after the pool), ``mask`` ``(B, N_l)`` padding, ``logits``
              ``(B, N_l, N_{l+1})`` assignment logits, ``fps_idx``
              ``(B, N_{l+1})`` sampled tokens, ``pooled`` ``(B, N_{l+1},
              C)`` pooled tokens;
            - ``cls_feat`` ``(B, C)``: the normed class token of the last
              stage's blocks (the image feature);
            - ``hierarchy``: ``num_stages + 1`` tensors ``(B, N0)``: the
              segment of each superpixel at each level (level 0 =
              superpixels; ``-1`` for padded tokens); nested by
              construction;
            - ``superpixels`` ``(B, H, W)`` contiguous labels (``-1`` =
              none), ``num_superpixels`` ``(B,)`` and ``feat_size``, the
              ``(h, w)`` of the stem's stride-8 grid;
            - with fusion, ``fused_tokens`` ``(B, N0, C)`` and
              ``fused_cls`` ``(B, 1, C)``;
            - with ``with_cls_attention``, ``cls_attention`` ``(B, heads,
              1 + N_L)``: the class token's attention over ``[cls;
              tokens]`` in the last block (``N_L`` tokens of the last
              stage, padded ones 0).
        """
        img, superpixels = self.split_inputs(x, superpixels)
        return self.encode(self.embed(img, superpixels, num_superpixels),
                           num_clusters)

    def encode(self,
               emb: Dict[str, Tensor],
               num_clusters: Optional[Sequence[int]] = None):
        """The stages and the outputs, from embedded tokens.

        Args:
            emb (dict): what :meth:`embed` returns (``tokens``, ``cls``,
                ``mask``, ``labels``, ``num_superpixels``, ``feat_size``).
            num_clusters (Sequence[int], optional): as in :meth:`forward`.

        Returns:
            See :meth:`forward`.
        """
        tokens, mask, cls = emb['tokens'], emb['mask'], emb['cls']
        B = tokens.shape[0]
        num_clusters = list(num_clusters or self.num_clusters)

        # The image feature is the class token of the last stage's blocks:
        # when it is all that is returned, the last pooling has no consumer.
        cls_only = self.out_type == 'cls_token' and self.fusion is None
        stages, cls_attention = [], None
        for stage, k in zip(self.stages, num_clusters):
            x_ = torch.cat([cls, tokens], dim=1)
            key_mask = torch.cat([mask.new_zeros(B, 1), mask], dim=1)
            for block in stage.blocks:
                if self.with_cls_attention and block is \
                        self.stages[-1].blocks[-1]:
                    x_, cls_attention = block(x_, key_mask, True)
                else:
                    x_ = block(x_, key_mask)
            block_cls, tokens = x_[:, :1], x_[:, 1:]
            if cls_only and stage is self.stages[-1]:
                stages.append(dict(block_cls=block_cls))
                break
            pooled = stage.pool(tokens, block_cls, mask, k)
            stages.append(
                dict(tokens=tokens, block_cls=block_cls, mask=mask,
                     cls_token=pooled['cls_token'], logits=pooled['logits'],
                     fps_idx=pooled['fps_idx'], pooled=pooled['tokens']))
            tokens, cls, mask = (pooled['tokens'], pooled['cls_token'],
                                 pooled['mask'])

        cls_feat = stages[-1]['block_cls'][:, 0]
        if self.norm is not None:
            cls_feat = self.norm(cls_feat)
        if cls_only:
            return (cls_feat, )

        mask0 = stages[0]['mask']
        hierarchy = chain_assignments([s['logits'] for s in stages], mask0)
        out = dict(stages=stages, cls_feat=cls_feat, hierarchy=hierarchy,
                   superpixels=emb['labels'],
                   num_superpixels=emb['num_superpixels'],
                   feat_size=emb['feat_size'])
        if cls_attention is not None:
            out['cls_attention'] = cls_attention
        if self.fusion is not None:
            out['fused_tokens'], out['fused_cls'] = self.fusion(
                [s['tokens'] for s in stages],
                [s['cls_token'] for s in stages], hierarchy[:-1], mask0)
        if self.out_type == 'cls_token':
            return (cls_feat, )
        if self.out_type == 'featmap':
            return self.to_featmaps(out)
        return out

    @staticmethod
    def to_featmaps(out: dict) -> tuple:
        """Per-stage tokens painted on a grid (dense mode).

        Each stage's block tokens are unpooled to the superpixels through
        the chained hard assignment, then every cell of the stem's grid
        (``out['feat_size']``) takes the token of the superpixel under it
        (nearest sampling of the label map).  Cells with no superpixel are
        zero.

        Args:
            out (dict): the ``'raw'`` output.

        Returns:
            tuple[Tensor]: one ``(B, C, h, w)`` map per stage.
        """
        grid = resize_labels(out['superpixels'], out['feat_size'])
        return tuple(
            scatter_to_pixels(unpool(s['tokens'], lab), grid)
            for s, lab in zip(out['stages'], out['hierarchy']))
