# Copyright (c) mmcast contributors. All rights reserved.
"""Cluster-based foreground extraction (CBFE, Leopart sec. 3.3).

A class token's attention is a noisy foreground; clusters of good dense
features are clean but unnamed.  Each cluster is scored by how much of it
lies in the attention foreground (its precision, averaged over the images
it appears in); the clusters above a precision threshold are the
foreground.  The threshold is the one label-derived choice: it is tuned on
training ground truth.
"""
from typing import Sequence, Tuple

import numpy as np

__all__ = [
    'cluster_foreground_precision', 'foreground_from_clusters',
    'tune_precision_threshold', 'foreground_iou'
]


def cluster_foreground_precision(clusters: np.ndarray, foreground: np.ndarray,
                                 num_clusters: int) -> np.ndarray:
    """Share of each cluster inside the noisy foreground.

    Args:
        clusters (np.ndarray): ``(N, h, w)`` cluster ids (negative: none).
        foreground (np.ndarray): ``(N, h, w)`` bool noisy foreground.
        num_clusters (int): K.

    Returns:
        np.ndarray: ``(K,)`` per cluster the mean, over the images that
        hold it, of the share of its cells in the foreground (0 for a
        cluster found nowhere).
    """
    clusters, foreground = np.asarray(clusters), np.asarray(foreground, bool)
    if clusters.shape != foreground.shape:
        raise ValueError(f'clusters {clusters.shape} and foreground '
                         f'{foreground.shape} differ')
    total = np.zeros(num_clusters)
    images = np.zeros(num_clusters)
    for c, fg in zip(clusters, foreground):
        valid = c >= 0
        size = np.bincount(c[valid], minlength=num_clusters)
        inside = np.bincount(c[valid & fg], minlength=num_clusters)
        present = size > 0
        total[present] += inside[present] / size[present]
        images += present
    return np.divide(total, images, out=np.zeros(num_clusters),
                     where=images > 0)


def foreground_from_clusters(clusters: np.ndarray, precision: np.ndarray,
                             threshold: float) -> np.ndarray:
    """Cells whose cluster's precision reaches ``threshold`` (``(N, h,
    w)`` bool; cells of no cluster are background)."""
    clusters = np.asarray(clusters)
    keep = np.append(np.asarray(precision) >= threshold, False)
    return keep[np.where(clusters < 0, len(precision), clusters)]


def foreground_iou(pred: np.ndarray, truth: np.ndarray,
                   valid: np.ndarray) -> float:
    """Foreground IoU per image (over ``valid`` cells), averaged."""
    ious = []
    for p, t, v in zip(pred, truth, valid):
        p, t = p & v, t & v
        union = (p | t).sum()
        ious.append(1. if union == 0 else (p & t).sum() / union)
    return float(np.mean(ious)) if ious else float('nan')


def tune_precision_threshold(clusters: np.ndarray,
                             precision: np.ndarray,
                             truth: np.ndarray,
                             valid: np.ndarray,
                             cut_range: Sequence[float] = (0.55, 0.75),
                             step: float = 0.05) -> Tuple[float, float]:
    """The precision threshold that best separates the true foreground.

    Clusters are sorted by precision; every cut that leaves the lowest
    ``cut_range[0]`` to ``cut_range[1]`` share of the clusters in the
    background is tried, scored by the foreground IoU with the truth, and
    the best cut's precision, rounded to a multiple of ``step``, is the
    threshold (the release's search).

    Args:
        clusters (np.ndarray): ``(N, h, w)`` cluster ids.
        precision (np.ndarray): ``(K,)`` from
            :func:`cluster_foreground_precision`.
        truth (np.ndarray): ``(N, h, w)`` bool true foreground.
        valid (np.ndarray): ``(N, h, w)`` bool cells with ground truth.
        cut_range (Sequence[float]): shares of background clusters tried.
        step (float): rounding of the threshold.

    Returns:
        tuple[float, float]: threshold and the IoU of its cut.
    """
    K = len(precision)
    order = np.argsort(precision, kind='stable')
    lo, hi = int(cut_range[0] * K), max(int(cut_range[1] * K),
                                        int(cut_range[0] * K) + 1)
    best = (-1., 0.)
    for start in range(lo, min(hi, K)):
        fg_ids = np.zeros(K + 1, bool)
        fg_ids[order[start:]] = True
        pred = fg_ids[np.where(clusters < 0, K, clusters)]
        iou = foreground_iou(pred, truth, valid)
        if iou > best[0]:
            best = (iou, float(precision[order[start]]))
    iou, cut = best
    return round(float(np.round(cut / step) * step), 10), float(iou)
