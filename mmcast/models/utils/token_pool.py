# Copyright (c) mmcast contributors. All rights reserved.
"""What every token pooling of a CAST stage provides.

A pooling turns the ``N_l`` tokens of a stage into ``N_{l+1}`` segment
tokens and says which segment each token joins.  CAST's hierarchy (the
chained ``argmax`` of the assignment logits), the unpooling of the
hypercolumn head and every hierarchy metric read only that, so any pooling
of :mod:`mmcast.models.necks` can end a stage (CAST paper, Table 5a/5b):

=====================  ====================================================
``GraphPool``          the paper's (default): FPS or random centroids,
                       attention refinement, soft assignment, MLP pooling
``KMeansPool``         spherical k-means over the tokens, mean pooling
``RandomSamplingPool`` K tokens kept at random, the others dropped
``ToMePool``           ToMe's bipartite soft matching, size-weighted means
``IdentityPool``       no pooling: every token stays its own segment
=====================  ====================================================

A backbone picks one with ``pooling=dict(type=...)``; see
:func:`build_token_pool`.
"""
import inspect
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

#: Keys of the dict every :meth:`TokenPool.pool` returns.
POOL_OUTPUTS = ('tokens', 'cls_token', 'logits', 'fps_idx', 'mask')


class TokenPool(BaseModule):
    """Base class of the token poolings (see the module docstring).

    :meth:`pool` returns a dict with

    - ``tokens`` ``(B, K, C)``: the pooled segment tokens (zero at padded
      slots);
    - ``cls_token`` ``(B, 1, C)`` or None: the class token after the pool
      (poolings without weights hand it on unchanged);
    - ``logits`` ``(B, N, K)``: assignment scores; ``argmax`` over ``K`` is
      the segment of every token (hard poolings give ``0`` at it and
      ``-inf`` elsewhere); ``-inf`` at padded segments;
    - ``fps_idx`` ``(B, K)``: the token each segment was seeded from;
    - ``mask`` ``(B, K)`` bool: padded segments (an image with fewer valid
      tokens than K keeps one segment per token).

    Args:
        embed_dims (int): C.
        num_clusters (int): K, may be overridden per call.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_clusters: int = 8,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_clusters = num_clusters

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
            num_clusters (int, optional): K; defaults to ``num_clusters``,
                capped at N.

        Returns:
            dict: see the class docstring.
        """
        raise NotImplementedError

    def forward(self,
                inputs: Union[Tensor, Sequence[Tensor]],
                cls_token: Optional[Tensor] = None,
                mask: Optional[Tensor] = None,
                num_clusters: Optional[int] = None):
        """Pool tokens, or the last feature map of a backbone (neck use).

        Args:
            inputs (Tensor | Sequence[Tensor]): ``(B, N, C)`` tokens or a
                ``(B, C, H, W)`` map; a tuple/list (neck use) is pooled at
                its last entry.
            cls_token, mask, num_clusters: see :meth:`pool`.

        Returns:
            dict | tuple[dict]: the dict of :meth:`pool`; a one-element tuple
            of it when ``inputs`` was a tuple/list (neck convention).
        """
        as_neck = isinstance(inputs, (tuple, list))
        x = inputs[-1] if as_neck else inputs
        if x.dim() == 4:
            x = x.flatten(2).transpose(1, 2)
        out = self.pool(x, cls_token, mask, num_clusters)
        return (out, ) if as_neck else out

    def _prepare(self, tokens: Tensor, mask: Optional[Tensor],
                 num_clusters: Optional[int]) -> Tuple[Tensor, int]:
        """The padding mask (all valid when None) and K capped at N."""
        B, N = tokens.shape[:2]
        if mask is None:
            mask = torch.zeros(B, N, dtype=torch.bool, device=tokens.device)
        return mask, min(num_clusters or self.num_clusters, N)


def hard_logits(assign: Tensor, num_clusters: int,
                mask: Optional[Tensor] = None) -> Tensor:
    """Logits of a hard assignment: ``0`` at each token's segment, ``-inf``
    elsewhere (their softmax is the one-hot assignment).

    Args:
        assign (Tensor): ``(B, N)`` int64 segment of every token.
        num_clusters (int): K.
        mask (Tensor, optional): ``(B, N)`` padding; padded tokens are put
            in segment 0 so that every row stays a distribution.

    Returns:
        Tensor: ``(B, N, K)`` float32.
    """
    if mask is not None:
        assign = assign.masked_fill(mask, 0)
    one_hot = F.one_hot(assign, num_clusters).bool()
    return torch.zeros(one_hot.shape, device=assign.device).masked_fill(
        ~one_hot, float('-inf'))


def assigned_means(tokens: Tensor,
                   assign: Tensor,
                   num_clusters: int,
                   mask: Optional[Tensor] = None,
                   weights: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Weighted mean of the tokens of every segment of a hard assignment.

    Args:
        tokens (Tensor): ``(B, N, C)``.
        assign (Tensor): ``(B, N)`` int64 segments in ``[0, K)``.
        num_clusters (int): K.
        mask (Tensor, optional): ``(B, N)`` padding (no weight).
        weights (Tensor, optional): ``(B, N)`` token weights (ones).

    Returns:
        tuple[Tensor, Tensor]: ``(B, K, C)`` means (zero for empty
        segments) and ``(B, K)`` summed weights.
    """
    B, N, C = tokens.shape
    w = tokens.new_ones(B, N) if weights is None else weights.to(tokens)
    if mask is not None:
        w = w.masked_fill(mask, 0.)
    index = assign.clamp(min=0)
    sums = tokens.new_zeros(B, num_clusters, C).scatter_add(
        1, index[..., None].expand(-1, -1, C), tokens * w[..., None])
    total = tokens.new_zeros(B, num_clusters).scatter_add(1, index, w)
    return sums / total.clamp(min=1e-12)[..., None], total


def build_token_pool(cfg: Optional[dict], embed_dims: int,
                     num_clusters: Optional[int], **defaults) -> TokenPool:
    """Build a token pooling from a config of the model registry.

    Args:
        cfg (dict, optional): e.g. ``dict(type='GraphPool')`` or
            ``dict(type='KMeansPool', num_iters=5)``; None means no pooling
            (:class:`~mmcast.models.necks.IdentityPool`).
        embed_dims (int): C, set on the pooling.
        num_clusters (int, optional): K of the stage.
        **defaults: settings a backbone holds for its poolings (e.g.
            ``num_heads``, ``kappa``); each is given to the pooling when its
            ``__init__`` takes it and ``cfg`` does not set it.

    Returns:
        TokenPool: the pooling module.
    """
    from mmcast.registry import SEG_MODELS
    cfg = dict(type='IdentityPool') if cfg is None else dict(cfg)
    if 'type' not in cfg:
        raise KeyError(f'a pooling config needs a type, got {cfg}')
    cls = cfg['type'] if inspect.isclass(cfg['type']) else SEG_MODELS.get(
        cfg['type'])
    if cls is None or not issubclass(cls, TokenPool):
        raise TypeError(f"pooling type {cfg['type']!r} is not a registered "
                        'TokenPool (GraphPool, KMeansPool, '
                        'RandomSamplingPool, ToMePool, IdentityPool)')
    accepted = inspect.signature(cls.__init__).parameters
    for key, value in defaults.items():
        if key in accepted:
            cfg.setdefault(key, value)
    cfg.update(embed_dims=embed_dims, num_clusters=num_clusters)
    cfg['type'] = cls
    return SEG_MODELS.build(cfg)
