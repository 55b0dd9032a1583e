# Copyright (c) mmcast contributors. All rights reserved.
"""Batches drawn from one source at a time (LarvSeg, after Detic: each
GPU's batch comes from a single dataset)."""
from typing import Iterator, List, Optional, Sequence

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


def interleave(ratio: Sequence[int]) -> List[int]:
    """A cycle of source ids in which source ``i`` appears ``ratio[i]``
    times, spread evenly (smooth weighted round robin; ties go to the
    lower id).  ``interleave([1, 1]) == [0, 1]``, ``interleave([3, 3, 2])
    == [0, 1, 2, 0, 1, 2, 0, 1]``."""
    if not ratio or any(int(r) != r or r < 0 for r in ratio) or \
            sum(ratio) == 0:
        raise ValueError('source_ratio must be non-negative integers, not '
                         f'all zero; got {list(ratio)}')
    total = sum(ratio)
    credit = [0] * len(ratio)
    cycle = []
    for _ in range(total):
        credit = [c + r for c, r in zip(credit, ratio)]
        pick = max(range(len(ratio)), key=lambda i: (credit[i], -i))
        credit[pick] -= total
        cycle.append(pick)
    return cycle


@DATA_SAMPLERS.register_module()
class MultiSourceSampler(Sampler):
    """Infinite sampler whose every ``batch_size`` consecutive indices come
    from one source of a concatenated dataset.

    Sources take turns by a fixed cycle (:func:`interleave` of
    ``source_ratio``).  Batch ``t`` of rank ``r`` uses the cycle's slot
    ``t * world_size + r``, so in one step the ranks cover consecutive
    slots: with 8 ranks and ratio ``[3, 3, 2]`` every step has 3, 3 and 2
    ranks on the three sources (the paper's GPU split), and one process
    cycles through the sources.  Within a source, indices are reshuffled
    every pass with a seed shared by the ranks, and each rank takes every
    ``world_size``-th one, so ranks never draw the same image in a pass.

    Use it with an iteration-based loop; ``batch_size`` must equal the
    dataloader's.

    Args:
        dataset: a dataset with ``cumulative_sizes``
            (:class:`~mmcast.datasets.MultiSourceSegDataset`).
        batch_size (int): the dataloader's batch size.
        source_ratio (Sequence[int], optional): batches per source in one
            cycle. Defaults to one each.
        shuffle (bool): shuffle within sources. Defaults to True.
        seed (int, optional): shared random seed (synchronised across
            ranks when None).
    """

    def __init__(self,
                 dataset,
                 batch_size: int,
                 source_ratio: Optional[Sequence[int]] = None,
                 shuffle: bool = True,
                 seed: Optional[int] = None):
        if not hasattr(dataset, 'cumulative_sizes'):
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
            if not hasattr(dataset, 'cumulative_sizes'):
                raise TypeError('MultiSourceSampler needs a concatenated '
                                'dataset (MultiSourceSegDataset)')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        ends = list(dataset.cumulative_sizes)
        self.starts = [0] + ends[:-1]
        self.sizes = [e - s for s, e in zip(self.starts, ends)]
        if source_ratio is None:
            source_ratio = [1] * len(self.sizes)
        if len(source_ratio) != len(self.sizes):
            raise ValueError(f'source_ratio has {len(source_ratio)} entries '
                             f'for {len(self.sizes)} sources')
        self.rank, self.world_size = get_dist_info()
        for i, (n, r) in enumerate(zip(self.sizes, source_ratio)):
            if r and n < self.world_size:
                raise ValueError(f'source {i} has {n} samples, fewer than '
                                 f'the {self.world_size} ranks')
        self.dataset = dataset
        self.batch_size = batch_size
        self.cycle = interleave(source_ratio)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed

    def source_indices(self, source: int) -> Iterator[int]:
        """This rank's endless share of one source's global indices."""
        g = torch.Generator()
        g.manual_seed(self.seed + 1000003 * source)
        n = self.sizes[source]
        while True:
            order = torch.randperm(n, generator=g) if self.shuffle else \
                torch.arange(n)
            for i in order[self.rank::self.world_size].tolist():
                yield self.starts[source] + i

    def __iter__(self) -> Iterator[int]:
        streams = {s: self.source_indices(s) for s in set(self.cycle)}
        step = 0
        while True:
            source = self.cycle[(step * self.world_size + self.rank) %
                                len(self.cycle)]
            for _ in range(self.batch_size):
                yield next(streams[source])
            step += 1

    def __len__(self) -> int:
        return sum(self.sizes)

    def set_epoch(self, epoch: int) -> None:
        """Unused: the sampler is infinite."""
