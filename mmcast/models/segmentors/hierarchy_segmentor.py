# Copyright (c) mmcast contributors. All rights reserved.
"""A test-time model whose prediction is a part-whole hierarchy.

:class:`HierarchySegmentor` wraps a CAST backbone and returns, for every
image, CAST's own hierarchy (superpixels, then the chained ``argmax`` of
every GraphPool) instead of class logits; its ``predict`` fills the data
samples read by the hierarchy metrics (``mmcast.evaluation``), so
``tools/test.py`` and ``tools/analysis_tools/eval_hierarchy.py`` measure a
hierarchy from a config.  :class:`~mmcast.models.segmentors.ViTKMeansHierarchy`
gives a stock ViT the same interface.

What one image's hierarchy is (:meth:`HierarchySegmentor.extract_hierarchy`)::

    superpixels    (h, w)  unit of every pixel (level 0), -1 in padding
    unit_levels    L+1 tensors (N0,): the segment of every unit per level,
                   nested: level l+1 is a function of level l
    unit_embeddings (N0, C) mean L2-normalised feature of every unit
    unit_weights   (N0,)   pixels of every unit
    level_sizes    nominal segments per level (N0, then the cluster counts;
                   N0 again for a stage that does not pool)

A backbone that does not pool (Table 3a's "superpixel, no pooling" row) has
no coarse level of its own: ``coarse_pool`` adds one, the paper's extra
GraphPool for the coarse segments of segment retrieval
(:func:`coarse_segments`).
"""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.structures import SegDataSample
from torch import Tensor

from mmcast.models.utils.hypercolumn import unpool
from mmcast.models.utils.superpixel_ops import resize_labels
from mmcast.models.utils.token_pool import assigned_means, build_token_pool
from mmcast.registry import SEG_MODELS, register_model

NOT_TRAINABLE = ('{name} predicts a hierarchy for evaluation; it has no '
                 'training loss: train the CAST segmentor or classifier and '
                 'load its checkpoint here')


def build_preprocessor(cfg: Optional[dict]):
    """Build a data preprocessor config in mmseg's registry (so that a
    model built outside a default scope still finds mmcast's)."""
    return SEG_MODELS.build(cfg) if isinstance(cfg, dict) else cfg


def superpixel_representatives(labels: Tensor, valid: Tensor,
                               grid_size) -> Tensor:
    """A token for every superpixel, borrowed when it has none.

    With ``token_pooling='stem'`` CAST samples the label map on its stride-8
    grid; a superpixel no grid cell samples gets no token.  It takes the
    token whose grid cells cover most of its pixels (every sampled label has
    a token), so each superpixel maps to exactly one token and nesting is
    kept.

    Args:
        labels (Tensor): ``(h, w)`` contiguous superpixels (``-1``: none).
        valid (Tensor): ``(N0,)`` bool, superpixels with a token.
        grid_size (tuple[int, int]): the stem grid the labels were sampled
            on (the backbone's ``feat_size``).

    Returns:
        Tensor: ``(N0,)`` int64 token of every superpixel.
    """
    n0 = valid.shape[0]
    rep = torch.arange(n0, device=labels.device)
    if bool(valid.all()):
        return rep
    grid = resize_labels(labels[None], grid_size)
    cover = resize_labels(grid, labels.shape[-2:])[0].reshape(-1)
    own = labels.reshape(-1)
    pick = (own >= 0) & (cover >= 0)
    pick &= ~valid[own.clamp(min=0)]
    key = own[pick] * n0 + cover[pick]
    uniq, counts = torch.unique(key, return_counts=True)
    owner, token = uniq // n0, uniq % n0
    # For every owner, the token with the largest count (ties: largest id).
    order = np.lexsort((token.cpu().numpy(), counts.cpu().numpy(),
                        owner.cpu().numpy()))
    owner, token = owner[order], token[order]
    last = torch.ones_like(owner, dtype=torch.bool)
    last[:-1] = owner[1:] != owner[:-1]
    rep[owner[last]] = token[last]
    if not bool(valid[rep].all()):
        raise RuntimeError('a superpixel found no token to borrow from')
    return rep


def level_embeddings(unit_embeddings: Tensor, unit_weights: Tensor,
                     unit_labels: Tensor, num_segments: int) -> Tensor:
    """Embedding of every segment of a level: the pixel-weighted mean of its
    units' embeddings (units hold mean normalised features, so this is the
    mean normalised feature of the segment's pixels).

    Args:
        unit_embeddings (Tensor): ``(N0, C)``.
        unit_weights (Tensor): ``(N0,)`` pixels per unit.
        unit_labels (Tensor): ``(N0,)`` segment of every unit.
        num_segments (int): S.

    Returns:
        Tensor: ``(S, C)`` (zero rows for empty segments).
    """
    w = unit_weights.to(unit_embeddings.dtype)
    sums = unit_embeddings.new_zeros(num_segments, unit_embeddings.shape[1])
    sums.index_add_(0, unit_labels, unit_embeddings * w[:, None])
    total = unit_embeddings.new_zeros(num_segments).index_add_(
        0, unit_labels, w)
    return sums / total.clamp(min=1e-12)[:, None]


def coarse_segments(pool, feats: Tensor, labels: Tensor,
                    num_segments: int) -> Dict[str, Tensor]:
    """Group the segments of a level further with a token pooling.

    Every segment becomes a token, the mean of its units' features; the
    pooling (e.g. a GraphPool) assigns the segments to its clusters.  The
    new level is nested in the given one by construction.

    Args:
        pool (TokenPool): the pooling (its ``num_clusters`` segments).
        feats (Tensor): ``(B, N0, D)`` features of the units.
        labels (Tensor): ``(B, N0)`` segment of every unit at the level
            (``-1``: padding).
        num_segments (int): S, the level's segment slots.

    Returns:
        dict: ``labels`` ``(B, N0)`` the new segment of every unit (``-1``
        kept) and ``logits`` ``(B, S, K)`` the pooling's assignment.
    """
    if feats.shape[-1] != pool.embed_dims:
        raise ValueError(f'coarse_pool has embed_dims {pool.embed_dims} but '
                         f'the unit features have {feats.shape[-1]} '
                         "channels (feature='concat' gives num_stages x C)")
    pad = labels < 0
    tokens, weight = assigned_means(feats, labels, num_segments, pad)
    logits = pool.pool(tokens, None, weight == 0)['logits']
    parent = torch.gather(logits.argmax(-1), 1, labels.clamp(min=0))
    return dict(labels=parent.masked_fill(pad, -1), logits=logits)


def cast_hierarchy(backbone,
                   inputs: Tensor,
                   superpixels: Optional[Tensor] = None,
                   num_clusters: Optional[Sequence[int]] = None,
                   feature: Union[str, int] = 'auto',
                   return_soft: bool = False,
                   assignment: str = 'hard',
                   coarse_pool=None) -> List[Dict]:
    """CAST's hierarchy of a batch, per image (see the module docstring).

    Args:
        backbone (CAST): the backbone; called with ``out_type='raw'``
            (restored afterwards).
        inputs (Tensor): ``(B, 4, H, W)`` (superpixels as the last channel)
            or ``(B, 3, H, W)`` with ``superpixels``.
        superpixels (Tensor, optional): ``(B, H, W)``.
        num_clusters (Sequence[int], optional): clusters per stage.
        feature (str | int): unit embeddings from ``'fused'`` (the
            hypercolumn fusion of a segmentation backbone), ``'concat'``
            (every stage's tokens unpooled to the superpixels and
            concatenated), a stage index (its block tokens unpooled), or
            ``'auto'`` (``'fused'`` when the backbone fuses, else
            ``'concat'``).
        return_soft (bool): add ``soft``, per level ``l >= 1`` the soft map
            ``S_l = S_{l-1} P_l`` as ``(N0, N_l)`` rows.
        assignment (str): how a superpixel's segment at level ``l`` is
            read: ``'hard'`` (the release, default): the chained ``argmax``
            of every pool, nested by construction; ``'soft'`` (the paper's
            wording): ``argmax`` of the soft product ``S_l``, which need not
            nest.
        coarse_pool (TokenPool, optional): adds a coarser last level, the
            coarsest level's segments grouped by this pooling on the unit
            features (:func:`coarse_segments`).

    Returns:
        list[dict]: per image ``superpixels``, ``unit_levels``,
        ``unit_embeddings``, ``unit_weights``, ``borrowed``, ``level_sizes``,
        ``cls_feat`` and optionally ``soft``.
    """
    out_type = backbone.out_type
    backbone.out_type = 'raw'
    try:
        out = backbone(inputs, superpixels, num_clusters=num_clusters)
    finally:
        backbone.out_type = out_type
    if assignment not in ('hard', 'soft'):
        raise ValueError("assignment must be 'hard' or 'soft', got "
                         f'{assignment!r}')
    stages, hierarchy = out['stages'], out['hierarchy']
    if feature == 'auto':
        feature = 'fused' if 'fused_tokens' in out else 'concat'
    if feature == 'fused':
        if 'fused_tokens' not in out:
            raise ValueError("feature='fused' needs a CAST backbone built "
                             'with with_fusion=True')
        feats = out['fused_tokens']
    elif feature == 'concat':
        feats = torch.cat([
            F.normalize(unpool(s['tokens'], lab), dim=-1)
            for s, lab in zip(stages, hierarchy)
        ], dim=-1)
    elif isinstance(feature, int):
        feats = unpool(stages[feature]['tokens'], hierarchy[feature])
    else:
        raise ValueError("feature must be 'auto', 'fused', 'concat' or a "
                         f'stage index, got {feature!r}')
    clusters = list(num_clusters or backbone.num_clusters)
    logits = [s['logits'] for s in stages]
    if coarse_pool is not None:
        coarse = coarse_segments(coarse_pool, feats, hierarchy[-1],
                                 logits[-1].shape[-1])
        hierarchy = hierarchy + [coarse['labels']]
        logits.append(coarse['logits'])
        clusters.append(coarse_pool.num_clusters)
    results = []
    for b in range(feats.shape[0]):
        labels = out['superpixels'][b]
        n0 = int(out['num_superpixels'][b])
        chain = [h[b, :n0] for h in hierarchy]
        rep = superpixel_representatives(labels, chain[0] >= 0,
                                         out['feat_size'])
        weights = torch.bincount(labels[labels >= 0], minlength=n0)[:n0]
        soft = None
        if return_soft or assignment == 'soft':
            soft, s = [], None
            for logit in logits:
                p = logit[b].double().softmax(-1)
                s = p[:n0] if s is None else s @ p
                soft.append(s[rep].float())
        levels = [lab[rep] for lab in chain[1:]] if assignment == 'hard' \
            else [s.argmax(-1) for s in soft]
        res = dict(
            superpixels=labels,
            unit_levels=[torch.arange(n0, device=labels.device)] + levels,
            unit_embeddings=F.normalize(feats[b, :n0][rep], dim=-1),
            unit_weights=weights,
            borrowed=rep != torch.arange(n0, device=rep.device),
            level_sizes=[n0] + [n0 if k is None else k for k in clusters],
            cls_feat=out['cls_feat'][b])
        if return_soft:
            res['soft'] = soft
        results.append(res)
    return results


@register_model
class HierarchySegmentor(BaseSegmentor):
    """Predict CAST's part-whole hierarchy (registered in mmseg and
    mmpretrain).

    Build it from the backbone and data preprocessor of any CAST segmentor
    or classifier config and load that model's checkpoint: the ``backbone.*``
    weights are the same (heads are left out).  ``predict`` adds to every
    data sample

    - ``pred_levels`` (``PixelData``, ``(L+1, H, W)`` int64 at the original
      image size, nearest sampling; level 0 = superpixels);
    - ``unit_levels`` ``(L+1, N0)``, ``unit_embeddings`` ``(N0, C)`` and
      ``unit_weights`` ``(N0,)`` (with ``with_embeddings``);
    - metainfo ``level_sizes`` (segments per level: N0, then the clusters).

    Args:
        backbone (dict): a CAST config.
        num_clusters (Sequence[int], optional): clusters per stage at test
            time (free in CAST); the backbone's by default.
        feature (str | int): unit embeddings, see :func:`cast_hierarchy`.
        with_embeddings (bool): add the embeddings (segment retrieval,
            clustering). Defaults to True.
        assignment (str): ``'hard'`` (chained argmax, nested; default) or
            ``'soft'`` (argmax of the soft product), see
            :func:`cast_hierarchy`.
        coarse_pool (dict, optional): a token pooling of the model
            registry with its ``num_clusters``, e.g. ``dict(type=
            'GraphPool', num_clusters=40)``, that groups the segments of the
            backbone's coarsest level further on the unit features and adds
            them as the last level: the paper's extra GraphPool for the
            coarse segments of segment retrieval, for backbones that do not
            pool.  ``embed_dims`` defaults to the backbone's (right for
            fused features).  Its weights load from a checkpoint's
            ``coarse_pool.*`` when it has them; otherwise they are its
            initialisation (the release's counterpart, the last GraphPool of
            its segmentation model, gets no gradient in pre-training either).
        data_preprocessor (dict, optional): a CAST data preprocessor.
        init_cfg (dict, optional): initialisation config.
        train_cfg, test_cfg (dict, optional): accepted for mmseg's
            conventions (``init_model`` sets them); unused.
    """

    def __init__(self,
                 backbone: dict,
                 num_clusters: Optional[Sequence[int]] = None,
                 feature: Union[str, int] = 'auto',
                 with_embeddings: bool = True,
                 assignment: str = 'hard',
                 coarse_pool: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=build_preprocessor(
            data_preprocessor), init_cfg=init_cfg)
        self.backbone = SEG_MODELS.build(backbone)
        self.num_clusters = list(num_clusters) if num_clusters else None
        self.feature = feature
        self.with_embeddings = with_embeddings
        self.assignment = assignment
        self.coarse_pool = None
        if coarse_pool is not None:
            cfg = dict(coarse_pool)
            if 'num_clusters' not in cfg:
                raise KeyError('coarse_pool needs num_clusters (the segments '
                               'of the level it adds)')
            self.coarse_pool = build_token_pool(
                cfg, cfg.pop('embed_dims', self.backbone.embed_dims),
                cfg.pop('num_clusters'))
            # checked loading (mmcast.engine) lets a checkpoint lack it
            self.optional_state_prefixes = ('coarse_pool.', )

    # ------------------------------------------------------------------
    def extract_hierarchy(self,
                          inputs: Tensor,
                          num_clusters: Optional[Sequence[int]] = None,
                          return_soft: bool = False) -> List[Dict]:
        """The hierarchy of every image of a batch.

        Args:
            inputs (Tensor): ``(B, 4, H, W)`` from a CAST data preprocessor.
            num_clusters (Sequence[int], optional): clusters per level.
            return_soft (bool): add the soft maps (``soft``).

        Returns:
            list[dict]: see the module docstring.
        """
        return cast_hierarchy(self.backbone, inputs, None,
                              num_clusters or self.num_clusters,
                              self.feature, return_soft, self.assignment,
                              self.coarse_pool)

    def predict(self, inputs: Tensor,
                data_samples: Optional[list] = None) -> list:
        """Hierarchies as data samples (see the class docstring)."""
        results = self.extract_hierarchy(inputs)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in results]
        H, W = inputs.shape[-2:]
        for res, sample in zip(results, data_samples):
            levels = torch.stack([
                torch.where(res['superpixels'] >= 0,
                            lab[res['superpixels'].clamp(min=0)], -1)
                for lab in res['unit_levels']
            ])  # (L+1, H, W)
            meta = sample.metainfo
            left, right, top, bottom = meta.get(
                'img_padding_size', meta.get('padding_size', [0] * 4))
            levels = levels[:, top:H - bottom, left:W - right]
            if meta.get('flip'):
                dim = 2 if meta.get('flip_direction') == 'horizontal' else 1
                levels = levels.flip(dim)
            ori = tuple(meta.get('ori_shape', levels.shape[-2:]))[:2]
            if tuple(levels.shape[-2:]) != ori:
                levels = resize_labels(levels, ori)
            sample.set_data(dict(pred_levels=PixelData(data=levels.long())))
            sample.set_metainfo(dict(level_sizes=res['level_sizes']))
            if self.with_embeddings:
                sample.set_field(torch.stack(res['unit_levels']),
                                 'unit_levels')
                sample.set_field(res['unit_embeddings'], 'unit_embeddings')
                sample.set_field(res['unit_weights'], 'unit_weights')
        return data_samples

    # ------------------------------------------------------------------
    # BaseSegmentor's abstract interface
    def extract_feat(self, inputs: Tensor):
        return self.backbone(inputs)

    def encode_decode(self, inputs: Tensor, batch_data_samples: list):
        raise NotImplementedError(
            NOT_TRAINABLE.format(name=type(self).__name__))

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        raise NotImplementedError(
            NOT_TRAINABLE.format(name=type(self).__name__))

    def _forward(self, inputs: Tensor, data_samples=None):
        return self.extract_hierarchy(inputs)
