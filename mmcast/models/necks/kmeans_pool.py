# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcast.models.utils.token_pool import TokenPool, assigned_means
from mmcast.models.utils.centroid_sampling import (check_centroid_init,
                                                    random_token_sampling)
from mmcast.models.utils.fps import farthest_point_sampling
from mmcast.registry import register_model


@register_model
class KMeansPool(TokenPool):
    """Spherical k-means over the tokens (CAST Table 5a, "K-Means").

    1. centroids: K tokens by farthest point sampling (or at random), as
       GraphPool seeds its clusters;
    2. ``num_iters`` Lloyd steps on the L2-normalised tokens (no gradient):
       every token joins its most cosine-similar centroid, a centroid
       becomes the normalised mean of its members (an emptied one stays);
    3. logits ``kappa * cos(token, centroid)``; each token joins its
       ``argmax`` and a segment token is the mean of its members' tokens
       (gradient flows to the tokens); a segment left without members keeps
       the token it was seeded from.

    No weights: the class token is handed on unchanged.

    Args:
        embed_dims (int): C.
        num_clusters (int): K.
        num_iters (int): Lloyd iterations. Defaults to 10.
        kappa (float): scale of the cosine logits. Defaults to 5.
        centroid_init (str): ``'fps'`` (default) or ``'random'``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_clusters: int = 8,
                 num_iters: int = 10,
                 kappa: float = 5.,
                 centroid_init: str = 'fps',
                 init_cfg=None):
        super().__init__(embed_dims, num_clusters, init_cfg=init_cfg)
        if num_iters < 0:
            raise ValueError(f'num_iters must be >= 0, got {num_iters}')
        self.num_iters = num_iters
        self.kappa = kappa
        self.centroid_init = check_centroid_init(centroid_init)

    @torch.no_grad()
    def lloyd(self, points: Tensor, centroids: Tensor, mask: Tensor,
              out_mask: Tensor) -> Tensor:
        """Spherical Lloyd iterations.

        Args:
            points (Tensor): ``(B, N, C)`` unit vectors.
            centroids (Tensor): ``(B, K, C)`` unit vectors (initial).
            mask (Tensor): ``(B, N)`` padded points.
            out_mask (Tensor): ``(B, K)`` padded centroids.

        Returns:
            Tensor: ``(B, K, C)`` final unit centroids.
        """
        K = centroids.shape[1]
        for _ in range(self.num_iters):
            sim = torch.einsum('bnc,bkc->bnk', points, centroids)
            assign = sim.masked_fill(out_mask[:, None], float('-inf')).argmax(
                -1)
            means, count = assigned_means(points, assign, K, mask)
            moved = F.normalize(means, dim=-1)
            centroids = torch.where((count > 0)[..., None], moved, centroids)
        return centroids

    def pool(self,
             tokens: Tensor,
             cls_token: Optional[Tensor] = None,
             mask: Optional[Tensor] = None,
             num_clusters: Optional[int] = None) -> Dict[str, Tensor]:
        """See :meth:`TokenPool.pool`."""
        C = tokens.shape[-1]
        mask, K = self._prepare(tokens, mask, num_clusters)
        unit = F.normalize(tokens, dim=-1)
        if self.centroid_init == 'random':
            seeds, out_mask = random_token_sampling(mask, K)
        else:
            seeds, out_mask = farthest_point_sampling(tokens, K, mask)
        gather_idx = seeds[..., None].expand(-1, -1, C)
        centroids = self.lloyd(unit.detach(),
                               torch.gather(unit.detach(), 1, gather_idx),
                               mask, out_mask)
        logits = self.kappa * torch.einsum('bnc,bkc->bnk', unit, centroids)
        logits = logits.masked_fill(out_mask[:, None, :], float('-inf'))
        means, count = assigned_means(tokens, logits.argmax(-1), K, mask)
        pooled = torch.where((count > 0)[..., None], means,
                             torch.gather(tokens, 1, gather_idx))
        return dict(
            tokens=pooled.masked_fill(out_mask[..., None], 0.),
            cls_token=cls_token,
            logits=logits,
            fps_idx=seeds,
            mask=out_mask)
