# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional, Tuple

import torch
from torch import Tensor


@torch.no_grad()
def farthest_point_sampling(points: Tensor,
                            num_samples: int,
                            mask: Optional[Tensor] = None
                            ) -> Tuple[Tensor, Tensor]:
    """Batched farthest point sampling seeded from the mean point.

    Follows the CAST release (dgl's ``farthest_point_sampler`` on
    ``[mean; points]`` from index 0, first sample dropped): squared
    Euclidean distances in float64, the first maximum wins ties.  Unlike
    dgl, a point already picked is never picked again (dgl would repeat it
    when every remaining distance is zero, e.g. on a constant image), and
    padded points are never picked.  The loop runs over samples, never over
    the batch.

    Args:
        points (Tensor): ``(B, N, C)`` point features.
        num_samples (int): K, samples per image.
        mask (Tensor, optional): ``(B, N)`` bool, True for padded points.

    Returns:
        tuple[Tensor, Tensor]: ``(B, K)`` int64 indices into ``N`` and a
        ``(B, K)`` bool mask, True where an image had fewer than K valid
        points and the slot is padding (its index is 0).
    """
    B, N, _ = points.shape
    pts = points.detach().to(torch.float64)
    if mask is None:
        mask = torch.zeros(B, N, dtype=torch.bool, device=points.device)
    valid = ~mask
    num_valid = valid.sum(1)
    mean = (pts * valid[..., None]).sum(1) / num_valid.clamp(min=1)[:, None]
    min_dist = (pts - mean[:, None]).pow(2).sum(-1)
    # Padded points and picked points rank below every candidate.
    min_dist = min_dist.masked_fill(mask, -2.)
    picked = torch.zeros(B, num_samples, dtype=torch.long,
                         device=points.device)
    batch = torch.arange(B, device=points.device)
    for k in range(num_samples):
        idx = min_dist.argmax(1)
        picked[:, k] = idx
        min_dist[batch, idx] = -1.
        dist = (pts - pts[batch, idx][:, None]).pow(2).sum(-1)
        min_dist = torch.where(min_dist >= 0, torch.minimum(min_dist, dist),
                               min_dist)
    slots = torch.arange(num_samples, device=points.device)
    pad = slots[None] >= num_valid[:, None]
    picked = picked.masked_fill(pad, 0)
    return picked, pad
