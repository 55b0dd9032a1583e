# Copyright (c) mmcast contributors. All rights reserved.
"""LarvSeg's category memory and category-wise attention map.

The CA-Classifier (LarvSeg, Sec. 3.3) keeps, per class, a FIFO memory of
``M`` entries; each entry is written from one classification image: the
``K`` token features that score highest for the image's class.  A token's
memory score for class ``i`` is the mean cosine similarity between its
feature and every stored feature of ``i``.

Storage: the mean cosine over the ``M x K`` stored unit vectors equals the
cosine-like product of the token's unit feature with the *mean* of those
vectors, and a FIFO entry's ``K`` vectors are always written and dropped
together, so an entry is stored as the mean of its ``K`` unit vectors:
``(num_classes, M, C)`` instead of ``(num_classes, M, K, C)``, with the
same scores.

Distributed training: every rank collects its writes of the step, the
writes are all-gathered and applied by every rank in rank order, so the
memories stay identical on all ranks (:func:`gather_writes`).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size
from torch import Tensor


def gather_writes(classes: Tensor,
                  entries: Tensor,
                  gather: Callable[[Tensor], List[Tensor]] = all_gather,
                  world_size: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """All-gather the memory writes of every rank, in rank order.

    Ranks may hold different numbers of writes (0 on a rank whose batch
    came from a segmentation source): counts are gathered first, writes are
    padded to the largest count, gathered and trimmed.  Every rank must
    call this each step.  Without a process group the input is returned.

    Args:
        classes (Tensor): ``(n,)`` class ids written by this rank.
        entries (Tensor): ``(n, C)`` the entries.
        gather (callable): the all-gather (tensor -> one tensor per rank,
            same shapes). Defaults to :func:`mmengine.dist.all_gather`.
        world_size (int, optional): by default the process group's.

    Returns:
        tuple[Tensor, Tensor]: ``(n_total,)`` and ``(n_total, C)``: rank
        0's writes, then rank 1's, ...
    """
    if (world_size or get_world_size()) == 1:
        return classes, entries
    count = torch.tensor([classes.numel()], device=classes.device)
    counts = [int(c) for c in gather(count)]
    size = max(counts)
    pad = size - classes.numel()
    classes = F.pad(classes, (0, pad), value=-1)
    entries = F.pad(entries, (0, 0, 0, pad))
    all_classes = gather(classes.contiguous())
    all_entries = gather(entries.contiguous())
    return (torch.cat([c[:n] for c, n in zip(all_classes, counts)]),
            torch.cat([e[:n] for e, n in zip(all_entries, counts)]))


def standardize(x: Tensor, valid: Tensor, eps: float = 1e-5) -> Tensor:
    """``(x - mean) / std`` over the valid entries of the last axis.

    Args:
        x (Tensor): ``(..., N)``.
        valid (Tensor): ``(..., N)`` bool, or broadcastable to it.

    Returns:
        Tensor: same shape, zero where not valid.
    """
    valid = valid.expand_as(x).to(x.dtype)
    n = valid.sum(-1, keepdim=True).clamp(min=1)
    mean = (x * valid).sum(-1, keepdim=True) / n
    var = ((x - mean)**2 * valid).sum(-1, keepdim=True) / n
    return (x - mean) / torch.sqrt(var + eps) * valid


def profile_distance(fg: Tensor, bg: Tensor, valid: Tensor) -> Tensor:
    """Mean squared difference of standardised score maps.

    Args:
        fg (Tensor): ``(N,)`` foreground memory scores of the tokens.
        bg (Tensor): ``(J, N)`` memory scores of J candidate classes.
        valid (Tensor): ``(N,)`` bool.

    Returns:
        Tensor: ``(J,)`` in ``[0, 4]``: 0 when a candidate's map has the
        foreground's shape, large when it differs.
    """
    diff = standardize(fg[None], valid) - standardize(bg, valid)
    return (diff**2 * valid).sum(-1) / valid.sum().clamp(min=1)


class CategoryMemory(nn.Module):
    """Per-class FIFO memory of top-scoring token features.

    Args:
        num_classes (int): classes of the (union) vocabulary.
        channels (int): C, the feature width.
        size (int): M, entries per class. Defaults to 20 (the release).
        topk (int): K, tokens per entry. Defaults to 20 (the release's
            WA150 setting; 40 in its ImageNet configs).
        warmup (int): a class's memory is used once it has been filled
            this many times (``warmup * size`` writes); the release's
            ``memory_bank_warm_up``. Defaults to 1.

    Buffers (saved in checkpoints): ``entries`` ``(num_classes, M, C)``,
    ``ptr`` and ``writes`` ``(num_classes,)``.
    """

    def __init__(self, num_classes: int, channels: int, size: int = 20,
                 topk: int = 20, warmup: int = 1):
        super().__init__()
        if size < 1 or topk < 1 or warmup < 0:
            raise ValueError('memory size and topk must be >= 1 and warmup '
                             f'>= 0, got {size}, {topk}, {warmup}')
        self.size, self.topk, self.warmup = size, topk, warmup
        self.register_buffer('entries',
                             torch.zeros(num_classes, size, channels))
        self.register_buffer('ptr', torch.zeros(num_classes,
                                                dtype=torch.long))
        self.register_buffer('writes', torch.zeros(num_classes,
                                                   dtype=torch.long))

    def ready(self, classes: Sequence[int]) -> List[bool]:
        """Whether each class's memory is warm."""
        need = self.warmup * self.size
        writes = self.writes.tolist()
        return [writes[c] >= need and writes[c] > 0 for c in classes]

    def entry(self, feats: Tensor, scores: Tensor, valid: Tensor) -> Tensor:
        """One memory entry: the mean of the K unit features that score
        highest (among the valid tokens).

        Args:
            feats (Tensor): ``(N, C)`` unit token features.
            scores (Tensor): ``(N,)`` the class's scores.
            valid (Tensor): ``(N,)`` bool.

        Returns:
            Tensor: ``(C,)``.
        """
        k = min(self.topk, int(valid.sum()))
        if k == 0:
            raise ValueError('an image with no valid token cannot write to '
                             'the memory')
        scores = scores.masked_fill(~valid, float('-inf'))
        return feats[scores.topk(k).indices].mean(0)

    @torch.no_grad()
    def write(self, classes: Tensor, entries: Tensor, sync: bool = True):
        """Write entries FIFO, in order (after an all-gather across ranks
        when ``sync``).

        Args:
            classes (Tensor): ``(n,)`` class ids.
            entries (Tensor): ``(n, C)``.
            sync (bool): gather the writes of all ranks first (every rank
                must then call this each step, with ``n = 0`` if need be).
        """
        if sync:
            classes, entries = gather_writes(classes, entries)
        for c, e in zip(classes.tolist(), entries):
            p = int(self.ptr[c])
            self.entries[c, p] = e.to(self.entries.dtype)
            self.ptr[c] = (p + 1) % self.size
            self.writes[c] += 1

    def scores(self, feats: Tensor, classes: Sequence[int]) -> Tensor:
        """Memory scores: mean cosine similarity of each token with the
        stored features of each class.

        Args:
            feats (Tensor): ``(N, C)`` unit token features.
            classes (Sequence[int]): J class ids (warm ones).

        Returns:
            Tensor: ``(J, N)``.
        """
        filled = self.writes[list(classes)].clamp(max=self.size)
        if (filled == 0).any():
            raise ValueError('memory score of a class never written')
        means = self.entries[list(classes)].sum(1) / filled[:, None]
        return means.to(feats.dtype) @ feats.t()

    def attention(self, feats: Tensor, valid: Tensor, fg: int,
                  bg: Sequence[int]) -> Tensor:
        """Category-wise attention logits of one image for class ``fg``:
        ``norm(S_fg - S_bg)`` with ``S_bg`` the mean memory score of the
        ``bg`` classes (``1 - S_fg`` when there is none) and ``norm`` the
        standardisation over the image's valid tokens.  The attention map
        is the sigmoid of this, once painted on the pixels.

        Args:
            feats (Tensor): ``(N, C)`` unit token features.
            valid (Tensor): ``(N,)`` bool.
            fg (int): the class.
            bg (Sequence[int]): background classes (warm).

        Returns:
            Tensor: ``(N,)`` (zero on invalid tokens).
        """
        s = self.scores(feats, [fg] + list(bg))
        s_bg = s[1:].mean(0) if len(bg) else 1 - s[0]
        return standardize(s[0] - s_bg, valid)
