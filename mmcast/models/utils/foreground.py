# Copyright (c) mmcast contributors. All rights reserved.
"""A foreground mask from a class token's attention (Leopart)."""
import numpy as np
import torch
from scipy import ndimage
from torch import Tensor
from torchvision.transforms.functional import gaussian_blur


@torch.no_grad()
def attention_foreground(attention: Tensor,
                         keep_mass: float = 0.6,
                         blur_sigma: float = 0.6,
                         min_size: int = 3) -> Tensor:
    """The cells that hold ``keep_mass`` of the attention.

    Per map: optionally blur (7x7 Gaussian), normalise to sum 1, keep the
    fewest highest-attention cells whose mass reaches ``keep_mass``, then
    drop connected (8-neighbour) kept regions of fewer than ``min_size``
    cells.  This is the DINO-style thresholding Leopart uses on the
    teacher's class-token attention, averaged over heads.

    Args:
        attention (Tensor): ``(B, h, w)`` non-negative attention per cell.
        keep_mass (float): share of the mass to keep, in ``(0, 1]``.
            Defaults to 0.6.
        blur_sigma (float): Gaussian sigma in cells; 0 for none. Defaults
            to 0.6.
        min_size (int): smallest kept region, in cells; 0 or 1 keeps all.
            Defaults to 3.

    Returns:
        Tensor: ``(B, h, w)`` bool foreground.
    """
    if attention.dim() != 3:
        raise ValueError('attention must be (B, h, w), got '
                         f'{tuple(attention.shape)}')
    if not 0 < keep_mass <= 1:
        raise ValueError(f'keep_mass must be in (0, 1], got {keep_mass}')
    B, h, w = attention.shape
    att = attention.float().clamp(min=0)
    if blur_sigma > 0:
        size = min(7, 2 * ((min(h, w) - 1) // 2) + 1)  # odd, fits the map
        if size > 1:
            att = gaussian_blur(att[:, None], [size, size],
                                [blur_sigma, blur_sigma])[:, 0]
    flat = att.reshape(B, -1)
    flat = flat / flat.sum(1, keepdim=True).clamp(min=1e-12)
    values, order = flat.sort(dim=1, descending=True)
    # Keep a cell while the mass strictly above it is below keep_mass.
    before = values.cumsum(1) - values
    keep_sorted = before < keep_mass - 1e-7
    keep = torch.zeros_like(keep_sorted).scatter_(1, order, keep_sorted)
    keep = keep.view(B, h, w)
    if min_size > 1:
        structure = np.ones((3, 3), bool)
        masks = keep.cpu().numpy()
        for m in masks:
            regions, _ = ndimage.label(m, structure)
            sizes = np.bincount(regions.ravel())
            m[(sizes < min_size)[regions] & (regions > 0)] = False
        keep = torch.from_numpy(masks).to(attention.device)
    return keep
