# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcast.models.utils.token_pool import TokenPool
from mmcast.models.utils.centroid_sampling import random_token_sampling
from mmcast.registry import register_model


@register_model
class RandomSamplingPool(TokenPool):
    """Keep K tokens drawn at random, drop the others (CAST Table 5a,
    "Random Sampling").

    The kept tokens are the new tokens, unchanged (token pruning).  For the
    hierarchy every token joins the kept token it is most cosine-similar
    to (a kept token joins itself unless an earlier kept token has the very
    same direction), with logits ``kappa * cos``.  No
    weights: the class token is handed on unchanged.  Each call draws anew
    from torch's global generator.

    Args:
        embed_dims (int): C.
        num_clusters (int): K.
        kappa (float): scale of the cosine logits. Defaults to 5.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_clusters: int = 8,
                 kappa: float = 5.,
                 init_cfg=None):
        super().__init__(embed_dims, num_clusters, init_cfg=init_cfg)
        self.kappa = kappa

    def pool(self,
             tokens: Tensor,
             cls_token: Optional[Tensor] = None,
             mask: Optional[Tensor] = None,
             num_clusters: Optional[int] = None) -> Dict[str, Tensor]:
        """See :meth:`TokenPool.pool`."""
        C = tokens.shape[-1]
        mask, K = self._prepare(tokens, mask, num_clusters)
        kept, out_mask = random_token_sampling(mask, K)
        pooled = torch.gather(tokens, 1, kept[..., None].expand(-1, -1, C))
        unit = F.normalize(tokens, dim=-1)
        logits = self.kappa * torch.einsum(
            'bnc,bkc->bnk', unit, F.normalize(pooled, dim=-1))
        logits = logits.masked_fill(out_mask[:, None, :], float('-inf'))
        return dict(
            tokens=pooled.masked_fill(out_mask[..., None], 0.),
            cls_token=cls_token,
            logits=logits,
            fps_idx=kept,
            mask=out_mask)
