# Copyright (c) mmcast contributors. All rights reserved.
"""Tensor operations on superpixel label maps.

Conventions used across mmcast:

* a label map is an integer tensor of shape ``(B, H, W)``;
* a negative label means "no superpixel here" (padding added by the data
  preprocessor, or pixels outside the image);
* labels of one image need not be contiguous; :func:`relabel_superpixels`
  makes them ``0..N_b-1`` per image, in increasing order of the original
  ids, which is the order the release uses once its labels are contiguous.
"""
import functools
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def relabel_superpixels(labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Make superpixel ids contiguous per image.

    Works for any integer ids (non-contiguous, very large, negative for
    "none") without a Python loop over the batch.

    Args:
        labels (Tensor): ``(B, H, W)`` integer label map; negative = none.

    Returns:
        tuple[Tensor, Tensor]: the relabelled map ``(B, H, W)`` (int64,
        ``-1`` where the input was negative) and the number of superpixels
        of each image ``(B,)``.
    """
    if labels.dim() != 3:
        raise ValueError('superpixels must be a (B, H, W) label map, got '
                         f'shape {tuple(labels.shape)}')
    if labels.is_floating_point():
        labels = labels.round()
    labels = labels.long()
    B = labels.shape[0]
    flat = labels.flatten(1)
    valid = flat >= 0
    out = torch.full_like(flat, -1)
    counts = torch.zeros(B, dtype=torch.long, device=labels.device)
    if not valid.any():
        return out.view_as(labels), counts
    batch = torch.arange(B, device=labels.device)[:, None].expand_as(flat)
    span = int(flat.max()) + 1
    if B * span <= 1 << 24:
        # Small ids (the usual case): a presence table and a running count
        # give the new ids without sorting.
        # Pixels with no superpixel go to one extra slot at the end.
        key = torch.where(valid, batch * span + flat, B * span)
        present = torch.zeros(B * span + 1, dtype=torch.bool,
                              device=labels.device)
        present[key.view(-1)] = True
        present = present[:-1].view(B, span)
        new_ids = F.pad(present.cumsum(1).view(-1) - 1, (0, 1), value=-1)
        out = new_ids[key]
        return out.view_as(labels), present.sum(1)
    # Large ids: compress the ids of the whole batch first, so that the
    # per-image key below cannot overflow however large the ids are.
    ids, rank = torch.unique(flat[valid], return_inverse=True)
    key = batch[valid] * ids.numel() + rank
    uniq, new = torch.unique(key, return_inverse=True)
    counts = torch.bincount(uniq // ids.numel(), minlength=B)
    offsets = torch.cumsum(counts, 0) - counts
    out[valid] = new - offsets[batch[valid]]
    return out.view_as(labels), counts


def resize_labels(labels: Tensor, size: Tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of a label map, as ``F.interpolate`` does.

    Args:
        labels (Tensor): ``(B, H, W)`` int64 labels, contiguous per image
            (so that they are exact in float32).
        size (tuple[int, int]): output ``(h, w)``.

    Returns:
        Tensor: ``(B, h, w)`` int64 labels.
    """
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    out = F.interpolate(labels[:, None].float(), size=size, mode='nearest')
    return out[:, 0].long()


def segment_mean(feats: Tensor, labels: Tensor,
                 num_segments: int) -> Tuple[Tensor, Tensor]:
    """Mean of per-pixel features within each segment.

    Args:
        feats (Tensor): ``(B, C, H, W)`` features.
        labels (Tensor): ``(B, H, W)`` int64 labels in ``[0, num_segments)``,
            negative for pixels that belong to no segment.
        num_segments (int): N, the size of the token axis.

    Returns:
        tuple[Tensor, Tensor]: ``(B, N, C)`` means (zero for empty
        segments) and ``(B, N)`` pixel counts.
    """
    B, C = feats.shape[:2]
    flat = labels.flatten(1)
    # Pixels of no segment go to one extra slot, dropped at the end (no
    # boolean indexing: shapes do not depend on the labels' values).  The
    # sums run along the pixel axis of the (B, C, H*W) layout the features
    # already have: no transposed copy, one scatter for the whole batch
    # (an index_add_ over (B*H*W, C) rows is an order of magnitude slower
    # on CPU).
    index = torch.where(flat >= 0, flat, num_segments)
    sums = feats.new_zeros(B, C, num_segments + 1).scatter_add_(
        2, index[:, None].expand(-1, C, -1), feats.flatten(2))
    counts = feats.new_zeros(B, num_segments + 1).scatter_add_(
        1, index, feats.new_ones(()).expand(index.shape))
    counts = counts[:, :num_segments]
    means = sums[..., :num_segments].transpose(1, 2) / counts.clamp(
        min=1)[..., None]
    return means, counts


def _interp_taps(in_size: int, out_size: int, mode: str, device):
    """1-D interpolation taps exactly as ``F.interpolate`` applies them.

    Read off by interpolating an identity matrix (align_corners=False), so
    border clamping and the cubic kernel are PyTorch's own.

    Returns:
        tuple[Tensor, Tensor]: ``(out_size, T)`` input indices and their
        float64 weights (signed: the cubic kernel has negative lobes).
    """
    eye = torch.eye(in_size, device=device, dtype=torch.float64)
    weights = F.interpolate(
        eye.view(1, in_size, in_size, 1), size=(out_size, 1), mode=mode,
        align_corners=False)[0, :, :, 0].t()  # (out, in)
    num_taps = int((weights != 0).sum(1).max())
    index = weights.abs().topk(num_taps, dim=1).indices
    return index, torch.gather(weights, 1, index)


@functools.lru_cache(maxsize=16)
def _pixel_taps(src: Tuple[int, int], dst: Tuple[int, int], mode: str,
                device: str) -> Tuple[Tensor, Tensor]:
    """Every output pixel's source cells and weights, ``(H*W, Ty*Tx)``
    each (cached: they depend on the sizes only)."""
    (h, w), (H, W) = src, dst
    iy, wy = _interp_taps(h, H, mode, device)  # (H, Ty)
    ix, wx = _interp_taps(w, W, mode, device)  # (W, Tx)
    cells = (iy[:, None, :, None] * w + ix[None, :, None, :]).reshape(
        H * W, -1)
    weights = (wy[:, None, :, None] * wx[None, :, None, :]).reshape(
        H * W, -1)
    return cells, weights


def upsampled_segment_mean(feats: Tensor, labels: Tensor, num_segments: int,
                           mode: str = 'bilinear') -> Tensor:
    """Segment mean of features upsampled to the label map's resolution.

    Equal to ``segment_mean(F.interpolate(feats, labels.shape[-2:], mode),
    labels)`` but never materialises the ``(B, C, H, W)`` upsampled tensor.
    Interpolation is linear and separable: every pixel is a weighted sum of
    ``T`` grid cells (4 bilinear, 16 bicubic), so the mean over a segment is
    ``A @ feats`` with ``A[s, cell]`` the summed weights of the segment's
    pixels over their pixel count, an ``(N, h*w)`` matrix built with one
    ``index_add`` per image.

    Args:
        feats (Tensor): ``(B, C, h, w)``, or ``(1, C, h, w)`` shared by the
            batch (a position table).
        labels (Tensor): ``(B, H, W)`` labels in ``[0, num_segments)``,
            negative for none.
        num_segments (int): N.
        mode (str): ``'bilinear'`` or ``'bicubic'``.

    Returns:
        Tensor: ``(B, N, C)`` means (zero for empty segments).
    """
    B, H, W = labels.shape
    Bf, C, h, w = feats.shape
    if (h, w) == (H, W):
        return segment_mean(feats.expand(B, -1, -1, -1), labels,
                            num_segments)[0]
    device = feats.device
    cells, weights = _pixel_taps((h, w), (H, W), mode, str(device))
    grid = feats.flatten(2).transpose(1, 2)  # (Bf, h*w, C)
    out = []
    for b in range(B):  # one (N, h*w) matrix at a time bounds the memory
        lab = labels[b].reshape(-1)
        valid = lab >= 0
        seg = torch.where(valid, lab, num_segments)  # extra row: none
        index = (seg[:, None] * (h * w) + cells).reshape(-1)
        matrix = torch.zeros((num_segments + 1) * h * w, device=device,
                             dtype=torch.float64)
        matrix.index_add_(0, index, weights.reshape(-1))
        count = torch.bincount(seg, minlength=num_segments + 1)
        matrix = matrix.view(num_segments + 1, h * w)[:num_segments] / \
            count[:num_segments, None].clamp(min=1)
        out.append(matrix.to(grid.dtype) @ grid[b if Bf > 1 else 0])
    return torch.stack(out)


def scatter_to_pixels(values: Tensor, labels: Tensor,
                      fill: float = 0.) -> Tensor:
    """Paint per-segment values back onto a label map.

    Args:
        values (Tensor): ``(B, N, C)`` per-segment values.
        labels (Tensor): ``(B, H, W)`` labels in ``[0, N)``, negative for
            none.
        fill (float): value of pixels with a negative label.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    B, N, C = values.shape
    H, W = labels.shape[-2:]
    flat = labels.reshape(B, 1, H * W)
    # Gather along the token axis of (B, C, N): the result is laid out as
    # (B, C, H*W) directly, with no transpose of the large pixel tensor.
    index = flat.clamp(min=0).expand(B, C, H * W)
    out = torch.gather(values.transpose(1, 2).contiguous(), 2, index)
    out.masked_fill_(flat < 0, fill)
    return out.view(B, C, H, W)
