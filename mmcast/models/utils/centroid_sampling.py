# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional, Tuple

import torch
from torch import Tensor

#: How a pooling may seed its clusters (CAST Table 5b): farthest point
#: sampling (:func:`~mmcast.models.utils.farthest_point_sampling`) or
#: :func:`random_token_sampling`.
CENTROID_INITS = ('fps', 'random')


def check_centroid_init(method: str) -> str:
    """``method`` if it is one of :data:`CENTROID_INITS`, else a one-line
    ValueError."""
    if method not in CENTROID_INITS:
        raise ValueError(f'centroid_init must be one of {CENTROID_INITS}, '
                         f'got {method!r}')
    return method


@torch.no_grad()
def random_token_sampling(mask: Tensor,
                          num_samples: int,
                          generator: Optional[torch.Generator] = None
                          ) -> Tuple[Tensor, Tensor]:
    """K distinct valid tokens per image, drawn uniformly at random.

    The random counterpart of
    :func:`~mmcast.models.utils.farthest_point_sampling` (CAST Table 5b,
    "random sampling" of the cluster centroids), with the same contract:
    padded tokens are never drawn and an image with fewer than K valid
    tokens gets all of them, the remaining slots marked as padding.

    Args:
        mask (Tensor): ``(B, N)`` bool, True for padded tokens.
        num_samples (int): K.
        generator (torch.Generator, optional): source of randomness; the
            global one by default (seed it with ``torch.manual_seed`` for
            reproducible segmentations).

    Returns:
        tuple[Tensor, Tensor]: ``(B, K)`` int64 indices into ``N`` and a
        ``(B, K)`` bool mask, True where the slot is padding (index 0).
    """
    B, N = mask.shape
    if num_samples > N:
        raise ValueError(f'cannot draw {num_samples} of {N} tokens')
    scores = torch.rand(B, N, generator=generator,
                        device=mask.device).masked_fill(mask, -1.)
    picked = scores.topk(num_samples, dim=1).indices
    num_valid = (~mask).sum(1)
    pad = torch.arange(num_samples, device=mask.device)[None] >= \
        num_valid[:, None]
    return picked.masked_fill(pad, 0), pad
