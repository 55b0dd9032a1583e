# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcast.models.utils.token_pool import TokenPool, hard_logits
from mmcast.registry import register_model


def bipartite_merge(x: Tensor, size: Tensor,
                    num_tokens: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Merge tokens by ToMe's bipartite soft matching until K remain.

    A round splits the n tokens alternately into A (even positions) and B
    (odd), links every A token to its most cosine-similar B token and merges
    the ``r = min(n - K, |A|)`` best-linked A tokens into their B partners
    (a merged token is the size-weighted mean of its parts); the new order is
    ``[unmerged A; B]``.  Rounds repeat until K tokens remain.

    Args:
        x (Tensor): ``(n, C)`` tokens of one image.
        size (Tensor): ``(n,)`` tokens each one already stands for.
        num_tokens (int): K.

    Returns:
        tuple[Tensor, Tensor, Tensor]: the ``(K', C)`` merged tokens (``K' =
        min(K, n)``), their ``(K',)`` sizes and the ``(n,)`` index of the
        merged token every input token ended in.
    """
    label = torch.arange(len(x), device=x.device)
    while len(x) > num_tokens:
        n = len(x)
        a = torch.arange(0, n, 2, device=x.device)
        b = torch.arange(1, n, 2, device=x.device)
        r = min(n - num_tokens, len(a))
        with torch.no_grad():
            unit = F.normalize(x, dim=-1)
            best, dst = (unit[a] @ unit[b].t()).max(1)
            order = best.argsort(descending=True, stable=True)
        merged, kept = order[:r], order[r:]
        src, src_size = x[a[merged]], size[a[merged]]
        total = size[b].index_add(0, dst[merged], src_size)
        summed = (x[b] * size[b, None]).index_add(0, dst[merged],
                                                  src * src_size[:, None])
        x = torch.cat([x[a[kept]], summed / total[:, None]])
        size = torch.cat([size[a[kept]], total])
        new_pos = torch.empty(n, dtype=torch.long, device=x.device)
        new_pos[a[kept]] = torch.arange(len(kept), device=x.device)
        new_pos[b] = len(kept) + torch.arange(len(b), device=x.device)
        new_pos[a[merged]] = len(kept) + dst[merged]
        label = new_pos[label]
    return x, size, label


@register_model
class ToMePool(TokenPool):
    """ToMe-style token merging (Bolya et al. 2023; CAST Table 5a, "ToMe").

    :func:`bipartite_merge` on the valid tokens of each image until K
    remain.  Similarities are measured on the tokens themselves (ToMe uses
    the attention keys of the block before it; a pooling sees only the
    tokens), and one call reaches the stage's K (ToMe removes a fixed r
    tokens per block).  The assignment is hard: logits are ``0`` at each
    token's merged token and ``-inf`` elsewhere.  No weights: the class
    token is handed on unchanged.  Images are merged one at a time.

    Args:
        embed_dims (int): C.
        num_clusters (int): K.
        init_cfg (dict, optional): initialisation config.
    """

    def pool(self,
             tokens: Tensor,
             cls_token: Optional[Tensor] = None,
             mask: Optional[Tensor] = None,
             num_clusters: Optional[int] = None) -> Dict[str, Tensor]:
        """See :meth:`TokenPool.pool`; ``fps_idx`` holds the first token
        of every merged token."""
        B, N, C = tokens.shape
        mask, K = self._prepare(tokens, mask, num_clusters)
        pooled, assign, seeds, out_mask = [], [], [], []
        for b in range(B):
            valid = (~mask[b]).nonzero()[:, 0]
            x, _, label = bipartite_merge(tokens[b, valid],
                                          tokens.new_ones(len(valid)), K)
            k = len(x)
            pooled.append(F.pad(x, (0, 0, 0, K - k)))
            full = torch.zeros(N, dtype=torch.long, device=tokens.device)
            assign.append(full.index_put((valid, ), label))
            first = torch.full((K, ), N, dtype=torch.long,
                               device=tokens.device).scatter_reduce(
                                   0, label, valid, 'amin')
            seeds.append(first.masked_fill(first == N, 0))
            out_mask.append(torch.arange(K, device=tokens.device) >= k)
        out_mask = torch.stack(out_mask)
        return dict(
            tokens=torch.stack(pooled),
            cls_token=cls_token,
            logits=hard_logits(torch.stack(assign), K, mask),
            fps_idx=torch.stack(seeds),
            mask=out_mask)
