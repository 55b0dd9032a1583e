# Copyright (c) mmcast contributors. All rights reserved.
"""Aligning the dense outputs of overlapping crops of one image."""
from typing import Sequence, Tuple

import torch
from torch import Tensor
from torchvision.ops import roi_align


def overlap_boxes(crop_boxes: Tensor,
                  crop_sizes: Sequence[Tuple[int, int]]
                  ) -> Tuple[Tensor, Tensor]:
    """Where every pair of crops overlaps, in each crop's own pixels.

    Args:
        crop_boxes (Tensor): ``(B, V, 4)`` boxes ``(x1, y1, x2, y2)`` of the
            ``V`` crops in the original image's pixels (what
            :class:`~mmcast.datasets.transforms.MultiCropWithBoxes` keeps).
        crop_sizes (Sequence[tuple]): ``(height, width)`` each crop was
            resized to.

    Returns:
        tuple[Tensor, Tensor]: ``(B, V, V, 4)`` boxes, ``[:, i, j]`` being
        the intersection of crops ``i`` and ``j`` in the pixel frame of the
        resized crop ``i``; and ``(B, V, V)`` bool, whether the intersection
        has a positive area.
    """
    if crop_boxes.dim() != 3 or crop_boxes.shape[-1] != 4:
        raise ValueError('crop_boxes must be (B, V, 4), got '
                         f'{tuple(crop_boxes.shape)}')
    if len(crop_sizes) != crop_boxes.shape[1]:
        raise ValueError(f'{crop_boxes.shape[1]} crops but '
                         f'{len(crop_sizes)} crop sizes')
    boxes = crop_boxes.float()
    lt = torch.maximum(boxes[:, :, None, :2], boxes[:, None, :, :2])
    rb = torch.minimum(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
    valid = ((rb - lt) > 0).all(-1)
    origin = boxes[:, :, None, :2]  # the frame of crop i
    extent = (boxes[:, :, 2:] - boxes[:, :, :2]).clamp(min=1e-6)[:, :, None]
    size = boxes.new_tensor([[w, h] for h, w in crop_sizes])[None, :, None]
    scale = size / extent  # resized pixels per original pixel
    out = torch.cat([(lt - origin) * scale, (rb - origin) * scale], dim=-1)
    return out, valid


def align_to_box(maps: Tensor, boxes: Tensor, spatial_scale: float,
                 output_size: int = 7) -> Tensor:
    """Resample each map inside its box to a fixed grid (``roi_align``
    with ``aligned=True``: a box edge on a pixel edge).

    Args:
        maps (Tensor): ``(B, C, h, w)`` dense outputs of one crop each.
        boxes (Tensor): ``(B, 4)`` one box per map, in the crop's pixels.
        spatial_scale (float): map cells per crop pixel (``h / H``).
        output_size (int): side of the output grid. Defaults to 7.

    Returns:
        Tensor: ``(B, C, output_size, output_size)``.
    """
    if boxes.shape != (maps.shape[0], 4):
        raise ValueError(f'need one (x1, y1, x2, y2) box per map: '
                         f'{tuple(boxes.shape)} for {maps.shape[0]} maps')
    index = torch.arange(len(boxes), device=maps.device,
                         dtype=maps.dtype)[:, None]
    rois = torch.cat([index, boxes.to(maps)], dim=1)
    return roi_align(maps, rois, output_size, spatial_scale=spatial_scale,
                     sampling_ratio=-1, aligned=True)
