# Copyright (c) mmcast contributors. All rights reserved.
from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from torch import Tensor

from mmcast.registry import register_model

#: Label of pixels that belong to no superpixel (padding).
SUPERPIXEL_PAD = -1


def split_superpixel_channel(inputs: List[Tensor]) -> Tuple[list, list]:
    """Split ``(C+1, H, W)`` samples into images and ``(H, W)`` label maps.

    Raises a clear error when the pipeline did not append superpixels.
    """
    from mmcast.models.backbones.cast import MISSING_SUPERPIXELS
    if any(x.dim() != 3 or x.shape[0] != 4 for x in inputs):
        shapes = sorted({tuple(x.shape[:1]) for x in inputs})
        raise ValueError(f'{MISSING_SUPERPIXELS} (got samples with '
                         f'{shapes} channels, expected 4)')
    return [x[:3] for x in inputs], [x[3] for x in inputs]


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

    Args: as :class:`mmseg.models.SegDataPreProcessor`.
    """

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        data = self.cast_data(data)
        imgs, labels = split_superpixel_channel(list(data['inputs']))
        data['inputs'] = imgs
        out = super().forward(data, training)
        labels = pad_superpixels(labels, out['inputs'].shape[-2:])
        out['inputs'] = torch.cat([out['inputs'], labels], dim=1)
        return out
