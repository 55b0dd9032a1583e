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


@functools.lru_cache(maxsize=32)
def _interp_taps(in_size: int, out_size: int, mode: str,
                 device: str) -> Tuple[Tensor, Tensor]:
    """1-D interpolation taps exactly as ``F.interpolate`` applies them.

    Read off by interpolating an identity matrix (align_corners=False), so
    border clamping and the cubic kernel are PyTorch's own.  Cached: they
    depend on the sizes only (``in_size * out_size`` values to build).

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


def _sum_duplicates(keys: Tensor, values: Tensor) -> Tuple[Tensor, Tensor]:
    """Unique ``keys`` (sorted) and the sum of the ``values`` of each."""
    keys, inverse = torch.unique(keys, return_inverse=True)
    return keys, values.new_zeros(keys.numel()).index_add_(0, inverse, values)


@functools.lru_cache(maxsize=32)
def _column_sums(in_size: int, out_size: int, mode: str, device: str):
    """What a run of pixels ``[x0, x1)`` of one row takes from each grid
    column: ``cum[x1] - cum[x0]`` with ``cum`` the running sum of the
    ``(out_size, in_size)`` interpolation matrix (float64); and bounds of
    the grid columns with a non-zero weight: every pixel from ``x`` on reads
    no column left of ``first[x]``, every pixel up to ``x`` none right of
    ``last[x]`` (running extrema: a cubic weight is exactly zero where a
    pixel falls on a grid point, so the non-zero columns alone do not move
    monotonically with the pixel)."""
    index, weights = _interp_taps(in_size, out_size, mode, device)
    dense = torch.zeros(out_size, in_size, dtype=torch.float64,
                        device=device).scatter_add_(1, index, weights)
    cum = torch.cat([dense.new_zeros(1, in_size), dense.cumsum(0)])
    cols = torch.arange(in_size, device=device)
    nonzero = dense != 0
    first = torch.where(nonzero, cols, in_size).min(1).values
    last = torch.where(nonzero, cols, -1).max(1).values
    return (cum, first.flip(0).cummin(0).values.flip(0),
            last.cummax(0).values)


def _pooling_rows(labels: Tensor, grid_size: Tuple[int, int], taps_y,
                  columns, row_start: int) -> Tuple[Tensor, Tensor]:
    """Non-zero entries of the pooling matrix for a band of pixel rows.

    Entry ``(s, cell)`` sums the interpolation weight that grid ``cell``
    gives to the pixels of segment ``s`` in the band.  Interpolation is
    separable: along x, each run of one label in a row (a few per row, not
    one per pixel) takes its weights from the running sums of
    :func:`_column_sums`; along y, every such entry spreads over the taps
    of its row.  Equal entries are then summed.

    Args:
        labels (Tensor): ``(r, W)`` labels of the band, negative = none.
        grid_size (tuple[int, int]): the grid ``(h, w)``.
        taps_y (tuple[Tensor, Tensor]): from :func:`_interp_taps` for the
            full height.
        columns (tuple): from :func:`_column_sums` for the width.
        row_start (int): index of the band's first row.

    Returns:
        tuple[Tensor, Tensor]: keys ``s * h * w + cell`` (sorted, unique)
        and their float64 weights.
    """
    (iy, wy), (cum, first_col, last_col) = taps_y, columns
    h, w = grid_size
    W = labels.shape[1]
    # Runs: maximal stretches of one label within a row.
    starts = torch.ones_like(labels, dtype=torch.bool)
    starts[:, 1:] = labels[:, 1:] != labels[:, :-1]
    row, x0 = starts.nonzero(as_tuple=True)
    x1 = torch.full_like(x0, W)
    x1[:-1] = torch.where(row[1:] == row[:-1], x0[1:], W)
    seg = labels[row, x0]
    keep = seg >= 0
    row, x0, x1, seg = row[keep] + row_start, x0[keep], x1[keep], seg[keep]
    # Along x: one entry per run and grid column it reads.
    lo, span = first_col[x0], last_col[x1 - 1] - first_col[x0] + 1
    run = torch.repeat_interleave(
        torch.arange(seg.numel(), device=labels.device), span)
    col = lo[run] + torch.arange(run.numel(), device=labels.device) - \
        (torch.cumsum(span, 0) - span)[run]
    weight = cum[x1[run], col] - cum[x0[run], col]
    # Along y: each entry spreads over the taps of its row.
    row = row[run]
    key = seg[run, None] * (h * w) + iy[row] * w + col[:, None]
    return _sum_duplicates(key.view(-1), (weight[:, None] * wy[row]).view(-1))


def upsampled_segment_mean(feats: Tensor, labels: Tensor, num_segments: int,
                           mode: str = 'bilinear',
                           max_entries: int = 1 << 20) -> Tensor:
    """Segment mean of features upsampled to the label map's resolution.

    Equal to ``segment_mean(F.interpolate(feats, labels.shape[-2:], mode),
    labels)`` but never materialises the ``(B, C, H, W)`` upsampled tensor,
    and its memory grows linearly with the image.  Interpolation is linear:
    every pixel is a weighted sum of ``T`` grid cells (4 bilinear, 16
    bicubic), so the mean over a segment is ``A @ feats`` with ``A[s,
    cell]`` the summed weights of the segment's pixels over their pixel
    count.  ``A`` is sparse (a segment touches the few cells around it) and
    is built band of rows by band of rows (:func:`_pooling_rows`), so
    memory stays ``O(max_entries + nnz(A) + N * C)``, ``nnz(A) <= H * W *
    T``.

    Args:
        feats (Tensor): ``(B, C, h, w)``, or ``(1, C, h, w)`` shared by the
            batch (a position table).
        labels (Tensor): ``(B, H, W)`` labels in ``[0, num_segments)``,
            negative for none.
        num_segments (int): N.
        mode (str): ``'bilinear'`` or ``'bicubic'``.
        max_entries (int): bounds the entries handled at once (the working
            memory); the result does not depend on it.

    Returns:
        Tensor: ``(B, N, C)`` means (zero for empty segments).
    """
    B, H, W = labels.shape
    Bf, C, h, w = feats.shape
    if (h, w) == (H, W):
        return segment_mean(feats.expand(B, -1, -1, -1), labels,
                            num_segments)[0]
    device = str(feats.device)
    taps_y = _interp_taps(h, H, mode, device)
    columns = _column_sums(w, W, mode, device)
    # A band yields at most one entry per pixel, column tap and row tap.
    band = max(1, max_entries // (W * taps_y[0].shape[1] *
                                  int((columns[2] - columns[1]).max() + 1)))
    # float32 at least (half-precision sparse products are not everywhere,
    # and under autocast their backward mixes dtypes); contiguous rows: the
    # sparse product is slow on strided ones.
    dtype = torch.promote_types(feats.dtype, torch.float32)
    grid = feats.flatten(2).transpose(1, 2).to(dtype).contiguous()
    with torch.autocast(feats.device.type, enabled=False):
        out = [
            _pooled(labels[b], grid[b if Bf > 1 else 0], num_segments,
                    (h, w), taps_y, columns, band, dtype) for b in range(B)
        ]
    return torch.stack(out).to(feats.dtype)


def _pooled(lab: Tensor, grid: Tensor, num_segments: int, size, taps_y,
            columns, band: int, dtype) -> Tensor:
    """One image of :func:`upsampled_segment_mean`: ``(N, C)``."""
    h, w = size
    H = lab.shape[0]
    parts = [_pooling_rows(lab[r0:r0 + band], (h, w), taps_y, columns, r0)
             for r0 in range(0, H, band)]
    key, weight = _sum_duplicates(torch.cat([p[0] for p in parts]),
                                  torch.cat([p[1] for p in parts]))
    seg, cell = key // (h * w), key % (h * w)
    count = torch.bincount(lab[lab >= 0], minlength=num_segments)
    matrix = torch.sparse_coo_tensor(
        torch.stack([seg, cell]), (weight / count[seg]).to(dtype),
        (num_segments, h * w), is_coalesced=True, check_invariants=False)
    return torch.sparse.mm(matrix, grid)


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
