# Copyright (c) mmcast contributors. All rights reserved.
from typing import Any, Dict, List, Tuple, Union

import torch
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor
from torch import Tensor

from mmcast.models.data_preprocessors.seg_data_preprocessor import (
    pad_superpixels, split_superpixel_channel)
from mmcast.registry import register_model


def split_batch(inputs: Union[Tensor, List[Tensor]]) -> Tuple[Any, list]:
    """Split a collated batch into images and superpixel label maps.

    Args:
        inputs (Tensor | list[Tensor]): ``(B, 4, H, W)`` (``default_collate``)
            or a list of ``(4, H_i, W_i)`` samples (``pseudo_collate``); the
            last channel holds the labels of the
            :class:`~mmcast.datasets.transforms.Superpixels` transform.

    Returns:
        tuple: the images in the form they came in (``(B, 3, H, W)`` or a
        list of ``(3, H_i, W_i)``) and a list of ``(H_i, W_i)`` label maps.

    Raises:
        ValueError: when a sample has no superpixel channel.
    """
    if isinstance(inputs, Tensor):
        if inputs.dim() != 4:
            raise ValueError('expected a (B, 4, H, W) batch, got '
                             f'{tuple(inputs.shape)}')
        imgs, labels = split_superpixel_channel(list(inputs))
        return torch.stack(imgs), labels
    return split_superpixel_channel(list(inputs))


@register_model
class CASTClsDataPreProcessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` for images that carry
    superpixels (registered in mmpretrain and mmseg).

    The :class:`~mmcast.datasets.transforms.Superpixels` transform appends
    each sample's label map to its image as a 4th channel.  This
    preprocessor takes the channel off, lets the stock preprocessor do all
    of its work on the ``(B, 3, H, W)`` images (BGR->RGB, normalisation,
    padding to ``pad_size_divisor``, one-hot scores and the batch
    augmentations), pads the label maps to the same size with ``-1`` (no
    superpixel) and appends them again.  The model's input is ``(B, 4, H,
    W)``; the CAST backbone splits it.

    Mixup / CutMix rule (the release's behaviour): batch augmentations mix
    the *images* only.  Each sample keeps the superpixels of its own,
    unmixed image: a Mixup blend or a CutMix patch is pooled with the
    segments of the image it was blended into, and the mixed label scores
    are left as the stock preprocessor makes them.

    Args: as :class:`mmpretrain.models.ClsDataPreprocessor`.

    Raises:
        ValueError: (in :meth:`forward`) when the samples have no
        superpixel channel, i.e. the pipeline lacks ``Superpixels``.
    """

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Preprocess a batch.

        Args:
            data (dict): ``inputs`` (``(B, 4, H, W)`` or a list of ``(4, H,
                W)``) and ``data_samples`` from the dataloader.
            training (bool): apply the batch augmentations.

        Returns:
            dict: ``inputs`` ``(B, 4, H', W')`` float (normalised image and
            labels, ``-1`` in the padding) and ``data_samples``.
        """
        data = dict(data)
        imgs, labels = split_batch(self.cast_data(data['inputs']))
        data['inputs'] = imgs
        out = super().forward(data, training)
        labels = pad_superpixels(labels, out['inputs'].shape[-2:])
        out['inputs'] = torch.cat(
            [out['inputs'], labels.to(out['inputs'])], dim=1)
        return out
