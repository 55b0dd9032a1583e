# Copyright (c) mmcast contributors. All rights reserved.
from typing import Any, Dict, List

import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from torch import Tensor

from mmcast.models.data_preprocessors.missing_superpixels import \
    MissingSuperpixelsMixin
from mmcast.registry import register_model

#: Label of pixels that belong to no superpixel (padding).
SUPERPIXEL_PAD = -1


def pad_superpixels(labels: List[Tensor], size) -> Tensor:
    """Pad label maps at the bottom/right to ``size`` with
    :data:`SUPERPIXEL_PAD` and stack them as ``(B, 1, H, W)`` floats."""
    H, W = size
    return torch.stack([
        F.pad(lab.float(), (0, W - lab.shape[-1], 0, H - lab.shape[-2]),
              value=SUPERPIXEL_PAD) for lab in labels
    ])[:, None]


@register_model
class CASTSegDataPreProcessor(MissingSuperpixelsMixin, SegDataPreProcessor):
    """mmseg's ``SegDataPreProcessor`` for images that carry superpixels.

    The :class:`~mmcast.datasets.transforms.Superpixels` transform appends
    the label map to the image; this preprocessor takes it off, lets the
    stock preprocessor convert, normalise and pad the image, pads the label
    map to the same size with ``-1`` (no superpixel, never confused with a
    label) and appends it again.  The model's input is ``(B, 4, H, W)``:
    mmseg's ``EncoderDecoder`` then carries image and superpixels together
    through sliding windows and flips, and the CAST backbone splits them.

    Images without superpixels get them here
    (:class:`MissingSuperpixelsMixin`, SEEDS segmentation settings).

    Args:
        missing_superpixels (str | dict): see
            :class:`MissingSuperpixelsMixin`.
        Others: as :class:`mmseg.models.SegDataPreProcessor`.
    """
    superpixel_preset = 'segmentation'

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        data = self.cast_data(data)
        imgs, labels = self.superpixel_policy.split(list(data['inputs']))
        data['inputs'] = imgs
        out = super().forward(data, training)
        labels = pad_superpixels(labels, out['inputs'].shape[-2:])
        out['inputs'] = torch.cat([out['inputs'], labels], dim=1)
        return out
