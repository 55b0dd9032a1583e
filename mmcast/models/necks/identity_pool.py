# Copyright (c) mmcast contributors. All rights reserved.
from typing import Dict, Optional

import torch
from torch import Tensor

from mmcast.models.utils.token_pool import TokenPool, hard_logits
from mmcast.registry import register_model


@register_model
class IdentityPool(TokenPool):
    """No pooling: every token stays its own segment (CAST Table 3a,
    "superpixel, no pooling": the stage keeps its ``N`` tokens).

    The tokens, the class token and the padding pass unchanged; the
    logits are the identity assignment (``0`` on the diagonal, ``-inf``
    elsewhere), so the hierarchy repeats the level below and the
    hypercolumn head unpools every stage to the tokens themselves.
    ``num_clusters`` is ignored (the attribute is None: the stage keeps
    its token count).

    Args:
        embed_dims (int): C.
        num_clusters (int, optional): ignored (accepted so that every
            pooling is built alike).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_clusters: Optional[int] = None,
                 init_cfg=None):
        super().__init__(embed_dims, None, init_cfg=init_cfg)

    def pool(self,
             tokens: Tensor,
             cls_token: Optional[Tensor] = None,
             mask: Optional[Tensor] = None,
             num_clusters: Optional[int] = None) -> Dict[str, Tensor]:
        """See :meth:`TokenPool.pool`."""
        B, N = tokens.shape[:2]
        mask = self._prepare(tokens, mask, N)[0]
        index = torch.arange(N, device=tokens.device).expand(B, N)
        logits = hard_logits(index, N, mask)
        return dict(
            tokens=tokens,
            cls_token=cls_token,
            logits=logits.masked_fill(mask[:, None, :], float('-inf')),
            fps_idx=index,
            mask=mask)
