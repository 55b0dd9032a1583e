# Copyright (c) mmcast contributors. All rights reserved.
from typing import Union

from mmcast.models.utils.superpixel_policy import SuperpixelPolicy


class MissingSuperpixelsMixin:
    """Gives a CAST data preprocessor its ``missing_superpixels`` policy.

    Samples without the superpixel channel (a pipeline without the
    ``Superpixels`` transform, mmseg's ``get_flops``, an inferencer) get
    superpixels from the raw BGR image, before normalisation, padding and
    batch mixing, so they equal the transform's.

    Args:
        missing_superpixels (str | dict): ``'seeds'`` (default; with the
            release's SEEDS settings of :attr:`superpixel_preset`),
            ``'slic'``, ``'grid'`` or ``'error'``, or a dict of
            :class:`~mmcast.models.utils.SuperpixelPolicy` arguments.
        Others: those of the stock preprocessor.
    """
    #: SEEDS settings used by default: ``'segmentation'`` or
    #: ``'classification'``.
    superpixel_preset = 'segmentation'

    def __init__(self,
                 *args,
                 missing_superpixels: Union[str, dict] = 'seeds',
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.superpixel_policy = SuperpixelPolicy.build(
            missing_superpixels, preset=self.superpixel_preset,
            channel_order='bgr', where='data preprocessor')
