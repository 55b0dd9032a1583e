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
    valid = flat >= 0
    index = (flat + torch.arange(B, device=flat.device)[:, None] *
             num_segments)[valid]
    values = feats.flatten(2).transpose(1, 2)[valid]
    sums = feats.new_zeros(B * num_segments, C).index_add_(0, index, values)
    counts = feats.new_zeros(B * num_segments).index_add_(
        0, index, feats.new_ones(index.numel()))
    means = sums / counts.clamp(min=1)[:, None]
    return means.view(B, num_segments, C), counts.view(B, num_segments)


def _interp_taps(in_size: int, out_size: int, mode: str, device):
    """1-D interpolation weights exactly as ``F.interpolate`` applies them.

    Returns ``(out_size, in_size)``: row ``o`` holds the weights of the
    input samples for output sample ``o`` (align_corners=False).  They are
    read off by interpolating an identity matrix, so border clamping and
    the cubic kernel are PyTorch's own.
    """
    eye = torch.eye(in_size, device=device, dtype=torch.float64)
    eye = eye.view(1, in_size, in_size, 1)
    weights = F.interpolate(
        eye, size=(out_size, 1), mode=mode, align_corners=False)
    return weights[0, :, :, 0].t().contiguous()  # (out, in)


def upsampled_segment_mean(feats: Tensor, labels: Tensor, num_segments: int,
                           mode: str = 'bilinear') -> Tensor:
    """Segment mean of features upsampled to the label map's resolution.

    Equal to ``segment_mean(F.interpolate(feats, labels.shape[-2:], mode),
    labels)`` but never materialises the ``(B, C, H, W)`` upsampled tensor:
    interpolation is separable and linear, so the columns are interpolated
    densely (``(B, C, h, W)``) and the rows are folded into a sparse
    ``(segments x rows-columns)`` matrix.

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
    # Columns: dense, along the width only (the height is left unchanged
    # exactly: a scale of one reproduces the input rows).
    cols = F.interpolate(feats, size=(h, W), mode=mode, align_corners=False)
    cols = cols.permute(0, 2, 3, 1).reshape(Bf * h * W, C)

    # Rows: for each output row y, its taps i and weights.
    wy = _interp_taps(h, H, mode, device)  # (H, h)
    num_taps = int((wy != 0).sum(1).max())
    tap_w, tap_i = wy.abs().topk(num_taps, dim=1)
    tap_w = torch.gather(wy, 1, tap_i)  # signed weights (cubic has negatives)

    flat = labels.flatten(1)
    valid = flat >= 0
    batch = torch.arange(B, device=device)[:, None].expand_as(flat)
    row_index = batch * num_segments + flat
    counts = torch.zeros(B * num_segments, device=device,
                         dtype=torch.float64).index_add_(
                             0, row_index[valid],
                             torch.ones(int(valid.sum()), device=device,
                                        dtype=torch.float64))
    ys = torch.arange(H, device=device)[:, None].expand(H, W).reshape(-1)
    xs = torch.arange(W, device=device)[None, :].expand(H, W).reshape(-1)
    fb = batch if Bf > 1 else torch.zeros_like(batch)
    # (B, H*W, T) entries of the sparse matrix.
    rows = row_index[..., None].expand(-1, -1, num_taps)
    cols_index = ((fb[..., None] * h + tap_i[ys][None]) * W + xs[None, :,
                                                                  None])
    vals = tap_w[ys][None].expand(B, -1, -1) / counts.clamp(min=1)[
        row_index.clamp(min=0)][..., None]
    keep = valid[..., None].expand_as(rows) & (vals != 0)
    matrix = torch.sparse_coo_tensor(
        torch.stack([rows[keep], cols_index[keep]]),
        vals[keep].to(feats.dtype), (B * num_segments, Bf * h * W),
        check_invariants=False)
    out = torch.sparse.mm(matrix.coalesce(), cols)
    return out.view(B, num_segments, C)


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
    index = labels.clamp(min=0).flatten(1)[..., None].expand(-1, -1, C)
    out = torch.gather(values, 1, index)
    out = out.masked_fill((labels.flatten(1) < 0)[..., None], fill)
    return out.transpose(1, 2).reshape(B, C, H, W)
