# Copyright (c) mmcast contributors. All rights reserved.
from typing import Any, Dict, List, Union

import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from torch import Tensor

from mmcast.models.utils.superpixel_policy import SuperpixelPolicy
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
class CASTSegDataPreProcessor(SegDataPreProcessor):
    """mmseg's ``SegDataPreProcessor`` for images that carry superpixels.

    The :class:`~mmcast.datasets.transforms.Superpixels` transform appends
    the label map to the image; this preprocessor takes it off, lets the
    stock preprocessor convert, normalise and pad the image, pads the label
    map to the same size with ``-1`` (no superpixel, never confused with a
    label) and appends it again.  The model's input is ``(B, 4, H, W)``:
    mmseg's ``EncoderDecoder`` then carries image and superpixels together
    through sliding windows and flips, and the CAST backbone splits them.

    Images that come without superpixels (a pipeline without the
    transform, mmseg's ``get_flops``, an inferencer) get them here, from
    the raw image, by the ``missing_superpixels`` policy.

    Args:
        missing_superpixels (str | dict): ``'seeds'`` (default, with the
            release's segmentation SEEDS settings), ``'slic'``, ``'grid'``
            or ``'error'``, or a dict of
            :class:`~mmcast.models.utils.SuperpixelPolicy` arguments.
        Others: as :class:`mmseg.models.SegDataPreProcessor`.
    """

    def __init__(self,
                 *args,
                 missing_superpixels: Union[str, dict] = 'seeds',
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.superpixel_policy = SuperpixelPolicy.build(
            missing_superpixels, preset='segmentation', channel_order='bgr',
            where='data preprocessor')

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        data = self.cast_data(data)
        imgs, labels = self.superpixel_policy.split(list(data['inputs']))
        data['inputs'] = imgs
        out = super().forward(data, training)
        labels = pad_superpixels(labels, out['inputs'].shape[-2:])
        out['inputs'] = torch.cat([out['inputs'], labels], dim=1)
        return out
