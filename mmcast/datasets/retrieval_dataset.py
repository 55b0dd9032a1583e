# Copyright (c) mmcast contributors. All rights reserved.
from typing import Union

from mmengine.dataset import BaseDataset, ConcatDataset

from mmcast.registry import register_seg_dataset

#: metainfo key that tells the retrieval metric a sample's role.
ROLE_KEY = 'retrieval_role'


@register_seg_dataset
class SegmentRetrievalDataset(ConcatDataset):
    """A bank split followed by a query split, for segment retrieval
    (registered in mmseg).

    Every packed sample gets the metainfo ``retrieval_role``, ``'bank'``
    or ``'query'``, which :class:`~mmcast.evaluation.SegmentRetrievalMetric`
    reads: bank segments are labelled by their ground truth, query segments
    by their nearest bank segments.  One test loop therefore builds the bank
    and evaluates, also under DDP.

    Args:
        bank (dict | BaseDataset): the labelled split (e.g. VOC train_aug).
        query (dict | BaseDataset): the evaluated split (e.g. VOC val).
        lazy_init (bool): as mmengine's ``ConcatDataset``.
    """

    def __init__(self,
                 bank: Union[dict, BaseDataset],
                 query: Union[dict, BaseDataset],
                 lazy_init: bool = False):
        super().__init__([bank, query], lazy_init=lazy_init)

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            self.full_init()
        dataset_idx, sample_idx = self._get_ori_dataset_idx(idx)
        data = self.datasets[dataset_idx][sample_idx]
        data['data_samples'].set_metainfo(
            {ROLE_KEY: 'bank' if dataset_idx == 0 else 'query'})
        return data
