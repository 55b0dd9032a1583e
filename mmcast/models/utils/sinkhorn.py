# Copyright (c) mmcast contributors. All rights reserved.
"""Sinkhorn-Knopp: balanced soft cluster assignments (SwAV, Leopart)."""
import torch
from mmengine import dist
from torch import Tensor


def _all_reduce(x: Tensor) -> Tensor:
    """Sum over processes (no-op without a process group)."""
    if dist.get_world_size() > 1:
        dist.all_reduce(x, op='sum')
    return x


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor,
                   epsilon: float = 0.05,
                   num_iters: int = 3,
                   return_plan: bool = False) -> Tensor:
    """Equipartitioned soft assignments of ``N`` samples to ``K`` clusters.

    The transport plan ``Q = exp(scores / epsilon)`` (``K x N``, normalised
    to sum 1) is scaled alternately so that every cluster (row) holds
    ``1 / K`` of the mass and every sample (column) ``1 / N``; each sample's
    column, renormalised to sum 1, is its soft assignment.  Under
    distributed training the sums run over all processes' samples (``N`` is
    then the global count).

    Args:
        scores (Tensor): ``(N, K)`` prototype scores (cosine similarities).
        epsilon (float): entropy regularisation; smaller is harder.
            Defaults to 0.05.
        num_iters (int): row/column scaling rounds. Defaults to 3.
        return_plan (bool): return the ``(K, N)`` plan after the last
            column scaling instead of the assignments.

    Returns:
        Tensor: ``(N, K)`` float32 assignments, each row summing to 1 (or
        the plan).
    """
    if scores.dim() != 2:
        raise ValueError(f'scores must be (N, K), got {tuple(scores.shape)}')
    if epsilon <= 0 or num_iters < 0:
        raise ValueError(f'need epsilon > 0 and num_iters >= 0, got '
                         f'{epsilon} and {num_iters}')
    logits = scores.float().t() / epsilon
    # Subtracting the global maximum leaves the normalised plan unchanged
    # and keeps exp() finite.
    top = logits.max()
    if dist.get_world_size() > 1:
        dist.all_reduce(top, op='max')
    plan = torch.exp(logits - top)
    plan /= _all_reduce(plan.sum())
    K, n = plan.shape
    total = _all_reduce(torch.tensor(float(n), device=plan.device))
    for _ in range(num_iters):
        plan *= (1. / K) / _all_reduce(plan.sum(dim=1, keepdim=True))
        plan *= (1. / total) / plan.sum(dim=0, keepdim=True)
    if return_plan:
        return plan
    return (plan / plan.sum(dim=0, keepdim=True)).t()
