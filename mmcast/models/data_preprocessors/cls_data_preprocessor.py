# Copyright (c) mmcast contributors. All rights reserved.
from typing import Any, Dict, List, Tuple, Union

import torch
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor
from torch import Tensor

from mmcast.models.data_preprocessors.missing_superpixels import \
    MissingSuperpixelsMixin
from mmcast.models.data_preprocessors.seg_data_preprocessor import \
    pad_superpixels
from mmcast.models.utils.superpixel_policy import SuperpixelPolicy
from mmcast.registry import register_model


def split_batch(inputs: Union[Tensor, List[Tensor]],
                policy: SuperpixelPolicy) -> Tuple[Any, list]:
    """Split a collated batch into images and superpixel label maps.

    Args:
        inputs (Tensor | list[Tensor]): ``(B, 4, H, W)`` (``default_collate``)
            or a list of ``(4, H_i, W_i)`` samples (``pseudo_collate``); the
            last channel holds the labels of the
            :class:`~mmcast.datasets.transforms.Superpixels` transform.
            3-channel images get theirs from ``policy``.
        policy (SuperpixelPolicy): what to do for images without them.

    Returns:
        tuple: the images in the form they came in (``(B, 3, H, W)`` or a
        list of ``(3, H_i, W_i)``) and a list of ``(H_i, W_i)`` label maps.
    """
    if isinstance(inputs, Tensor):
        if inputs.dim() != 4:
            raise ValueError('expected a (B, 3 or 4, H, W) batch, got '
                             f'{tuple(inputs.shape)}')
        imgs, labels = policy.split(list(inputs))
        return torch.stack(imgs), labels
    return policy.split(list(inputs))


@register_model
class CASTClsDataPreProcessor(MissingSuperpixelsMixin, ClsDataPreprocessor):
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

    Images without superpixels get them here
    (:class:`MissingSuperpixelsMixin`, SEEDS classification settings).

    Args:
        missing_superpixels (str | dict): see
            :class:`MissingSuperpixelsMixin`.
        Others: as :class:`mmpretrain.models.ClsDataPreprocessor`.
    """
    superpixel_preset = 'classification'

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
        imgs, labels = split_batch(self.cast_data(data['inputs']),
                                   self.superpixel_policy)
        data['inputs'] = imgs
        out = super().forward(data, training)
        labels = pad_superpixels(labels, out['inputs'].shape[-2:])
        out['inputs'] = torch.cat(
            [out['inputs'], labels.to(out['inputs'])], dim=1)
        return out
