# Copyright (c) mmcast contributors. All rights reserved.
from typing import Optional, Tuple

import torch
from torch import Tensor

#: Largest ``B * N * N`` for which the float64 distance matrix of all pairs
#: is built (128 MiB); above it each step computes one row per image.
MAX_PAIRWISE_ENTRIES = 1 << 24


def _pairwise_rows(pts: Tensor):
    """A function giving, for one picked point per image, its squared
    distances to every point: ``(B,) -> (B, N)``.

    ``|p|^2 + |q|^2 - 2 p.q`` in float64 with the squared norms read off the
    Gram matrix's diagonal, so a point's distance to itself (and to an exact
    copy of it) is exactly 0.  Small sets build the ``(B, N, N)`` matrix once
    (one matrix product, then one gather per step); large ones (segmentation
    windows, whole images) compute one row per step, in memory linear in N.
    """
    B, N, _ = pts.shape
    if B * N * N <= MAX_PAIRWISE_ENTRIES:
        gram = torch.bmm(pts, pts.transpose(1, 2))
        sq = gram.diagonal(dim1=1, dim2=2)
        dist = (sq[:, :, None] + sq[:, None, :] - 2 * gram).clamp_(min=0)
        return lambda idx: dist.gather(
            1, idx[:, None, None].expand(B, 1, N))[:, 0]
    sq = torch.einsum('bnc,bnc->bn', pts, pts)

    def row(idx):
        picked = pts.gather(1, idx[:, None, None].expand(-1, 1,
                                                         pts.shape[-1]))
        dots = torch.bmm(pts, picked.transpose(1, 2))[..., 0]
        return (sq + sq.gather(1, idx[:, None]) - 2 * dots).clamp_(min=0)

    return row


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
    padded points are never picked.

    The distances between points come from their Gram matrix (see
    :func:`_pairwise_rows`), so each of the K sequential steps is four
    small ``(B, N)`` operations (arg-max, gather, minimum, scatter) over the
    whole batch, with no host synchronisation.  Float64 rounding of
    ``|p|^2 + |q|^2 - 2 p.q`` differs from that of ``|p - q|^2`` by about
    1e-16 of the squared norms, so only near-exact ties could be ordered
    differently (dgl's own summation order differs from both as well).

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
    # Padded points (-2) and picked points (-1) rank below every candidate
    # (distances are >= 0, so the running minimum keeps both marks).
    min_dist = min_dist.masked_fill(mask, -2.)
    distances_to = _pairwise_rows(pts)
    picked = []
    for _ in range(num_samples):
        idx = min_dist.argmax(1)
        picked.append(idx)
        min_dist = torch.minimum(min_dist, distances_to(idx)).scatter_(
            1, idx[:, None], -1.)
    picked = torch.stack(picked, 1) if picked else torch.zeros(
        B, 0, dtype=torch.long, device=points.device)
    slots = torch.arange(num_samples, device=points.device)
    pad = slots[None] >= num_valid[:, None]
    return picked.masked_fill(pad, 0), pad
