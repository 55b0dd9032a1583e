# Copyright (c) mmcast contributors. All rights reserved.
from typing import Any, Dict

import torch
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor

from mmcast.models.data_preprocessors.cls_data_preprocessor import split_batch
from mmcast.models.data_preprocessors.missing_superpixels import \
    MissingSuperpixelsMixin
from mmcast.models.data_preprocessors.seg_data_preprocessor import \
    pad_superpixels
from mmcast.registry import register_model


@register_model
class CASTSelfSupDataPreProcessor(MissingSuperpixelsMixin,
                                  SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` for multi-view batches whose
    views carry their own superpixels (registered in mmpretrain and mmseg).

    With mmpretrain's ``MultiView`` transform, each view's pipeline ends with
    :class:`~mmcast.datasets.transforms.Superpixels`, so every view has the
    label map of its own crop as a 4th channel.  For each view this
    preprocessor takes the channel off, lets the stock preprocessor convert
    and normalise the ``(B, 3, H, W)`` images (the stock channel flip would
    otherwise index the 4-channel tensor and drop the labels), and appends
    the labels again (padded with ``-1`` if the image grew).

    A view without superpixels gets them here
    (:class:`MissingSuperpixelsMixin`, SEEDS classification settings).

    Args:
        missing_superpixels (str | dict): see
            :class:`MissingSuperpixelsMixin`.
        Others: as :class:`mmpretrain.models.SelfSupDataPreprocessor`.
    """
    superpixel_preset = 'classification'

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Preprocess a batch of one or several views.

        Args:
            data (dict): ``inputs``: a ``(B, 4, H, W)`` tensor or a list of
                them, one per view; ``data_samples``.
            training (bool): unused by the stock preprocessor.

        Returns:
            dict: ``inputs`` in the same structure, each ``(B, 4, H, W)``
            (normalised image, labels), and ``data_samples``.
        """
        inputs = data['inputs']
        multi_view = isinstance(inputs, (list, tuple))
        views = list(inputs) if multi_view else [inputs]
        split = [split_batch(v, self.superpixel_policy) for v in views]
        data = dict(data, inputs=[s[0] for s in split]
                    if multi_view else split[0][0])
        out = super().forward(data, training)
        processed = out['inputs'] if multi_view else [out['inputs']]
        merged = []
        for img, (_, labels) in zip(processed, split):
            lab = pad_superpixels(labels, img.shape[-2:]).to(img)
            merged.append(torch.cat([img, lab], dim=1))
        out['inputs'] = merged if multi_view else merged[0]
        return out
