# Copyright (c) mmcast contributors. All rights reserved.
"""Measuring a segmentation without names: pure numpy / scipy functions.

The protocols are those of ``docs/evaluation.md``:

* :func:`boundary_fscore` - BSDS/DAVIS-style boundary F-score with a
  distance tolerance;
* :func:`region_miou` - mIoU of an unlabelled segmentation after each
  segment is named (oracle majority labeller, or a callable namer), reduced
  per image or over the dataset;
* :func:`hungarian_miou` / :func:`many_to_one_miou` - clustering mIoU
  (Leopart's protocol): clusters matched one-to-one to classes, or each
  cluster mapped to the class it overlaps most;
* :func:`segment_retrieval` - the top-k cosine vote of SegSort;
* building blocks shared by the metrics: :func:`segment_label_histogram`,
  :func:`majority_labels`, :func:`segment_embeddings`,
  :func:`confusion_matrix`, :func:`miou_from_confusion`.

Label maps are integer arrays ``(H, W)``; ``ignore_index`` marks pixels
without ground truth.  Every score is a float in ``[0, 1]``.
"""
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import ndimage, optimize

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]

__all__ = [
    'REDUCTIONS', 'check_reduction', 'default_tolerance', 'boundary_map',
    'boundary_counts',
    'fscore_from_counts', 'boundary_fscore', 'segment_label_histogram',
    'majority_labels', 'paint_segments', 'intersection_union', 'reduce_iou',
    'reduce_boundary', 'region_miou', 'confusion_matrix',
    'miou_from_confusion', 'hungarian_mapping', 'hungarian_miou',
    'many_to_one_miou', 'segment_embeddings', 'segment_retrieval'
]


def _as_list(maps: ArrayOrList) -> List[np.ndarray]:
    if isinstance(maps, np.ndarray) and maps.ndim == 2:
        return [maps]
    return [np.asarray(m) for m in maps]


def _check_pair(pred: np.ndarray, gt: np.ndarray, what: str = 'pred'):
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f'{what} {pred.shape} and gt {gt.shape} must be '
                         'label maps (H, W) of the same shape')


#: How per-image scores are pooled (see :func:`region_miou`).
REDUCTIONS = ('image', 'dataset')


def check_reduction(reduction: str) -> str:
    """``reduction`` itself when it is one of :data:`REDUCTIONS`.

    Raises:
        ValueError: in one line, for anything else.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'image' or 'dataset', got "
                         f'{reduction!r}')
    return reduction


def default_tolerance(shape: Tuple[int, int]) -> float:
    """The BSDS tolerance: 0.0075 x the image diagonal, in pixels."""
    return 0.0075 * float(np.hypot(*shape[:2]))


def boundary_map(labels: np.ndarray,
                 valid: Optional[np.ndarray] = None) -> np.ndarray:
    """One-pixel-wide boundaries of a label map.

    A pixel is a boundary pixel when one of its 4-neighbours carries another
    label; the band this gives (two pixels wide: both sides of every
    change) is thinned to one pixel (``skimage.morphology.thin``).

    Args:
        labels (np.ndarray): ``(H, W)`` integer labels.
        valid (np.ndarray, optional): ``(H, W)`` bool; pixels outside it are
            never boundary pixels (removed before thinning).

    Returns:
        np.ndarray: ``(H, W)`` bool.
    """
    from skimage.morphology import thin
    labels = np.asarray(labels)
    edge = np.zeros(labels.shape, bool)
    dy = labels[1:] != labels[:-1]
    dx = labels[:, 1:] != labels[:, :-1]
    edge[1:] |= dy
    edge[:-1] |= dy
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    if valid is not None:
        edge &= valid
    return thin(edge) if edge.any() else edge


def boundary_counts(pred: np.ndarray,
                    gt: np.ndarray,
                    tolerance: Optional[float] = None,
                    ignore_index: int = 255) -> Tuple[int, int, int, int]:
    """Matched and total boundary pixels of a prediction and the truth.

    The counts behind :func:`boundary_fscore` (same arguments), so that
    precision and recall can also be pooled over a dataset.

    Returns:
        tuple[int, int, int, int]: predicted boundary pixels within
        ``tolerance`` of the truth, predicted boundary pixels, true boundary
        pixels within ``tolerance`` of the prediction, true boundary pixels.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    _check_pair(pred, gt)
    if tolerance is None:
        tolerance = default_tolerance(gt.shape)
    if tolerance < 0:
        raise ValueError(f'tolerance must be >= 0, got {tolerance}')
    valid = gt != ignore_index
    pred_b = boundary_map(pred, valid)
    gt_b = boundary_map(gt, valid)
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 or n_gt == 0:
        return 0, n_pred, 0, n_gt
    # Distance of every pixel to the nearest boundary pixel of each set.
    dist_to_gt = ndimage.distance_transform_edt(~gt_b)
    dist_to_pred = ndimage.distance_transform_edt(~pred_b)
    return (int((dist_to_gt[pred_b] <= tolerance).sum()), n_pred,
            int((dist_to_pred[gt_b] <= tolerance).sum()), n_gt)


def fscore_from_counts(matched_pred: int, n_pred: int, matched_gt: int,
                       n_gt: int) -> Tuple[float, float, float]:
    """``(f, precision, recall)`` from :func:`boundary_counts` (or their
    sums over a dataset), with the empty-set conventions of
    :func:`boundary_fscore`."""
    if n_pred == 0 and n_gt == 0:
        return 1., 1., 1.
    if n_pred == 0:
        return 0., 1., 0.
    if n_gt == 0:
        return 0., 0., 1.
    precision, recall = matched_pred / n_pred, matched_gt / n_gt
    if precision + recall == 0:
        return 0., float(precision), float(recall)
    return (float(2 * precision * recall / (precision + recall)),
            float(precision), float(recall))


def boundary_fscore(pred: np.ndarray,
                    gt: np.ndarray,
                    tolerance: Optional[float] = None,
                    ignore_index: int = 255) -> Tuple[float, float, float]:
    """Boundary F-score of a segmentation against the ground truth.

    Only where labels change matters, so ``pred`` may hold segment ids and
    ``gt`` class ids.  Boundaries are the pixels with a 4-neighbour of
    another label, thinned to one pixel (:func:`boundary_map`).  A change
    between a ground-truth class and ``ignore_index`` is a ground-truth
    boundary (VOC outlines its objects with void bands), but pixels whose
    ground truth is ``ignore_index`` belong to neither boundary set.

    Precision is the share of predicted boundary pixels within
    ``tolerance`` (Euclidean distance, from a distance transform) of a
    ground-truth boundary pixel; recall the share of ground-truth boundary
    pixels within ``tolerance`` of a predicted one; ``F = 2PR / (P + R)``.
    Both sets empty gives ``(1, 1, 1)``; no predicted boundary against a
    non-empty truth gives ``P = 1, R = 0, F = 0``; predicted boundaries
    against an empty truth ``P = 0, R = 1, F = 0`` (DAVIS's conventions).

    Args:
        pred (np.ndarray): ``(H, W)`` integer labels.
        gt (np.ndarray): ``(H, W)`` integer labels.
        tolerance (float, optional): in pixels; ``None`` means
            ``0.0075 * image diagonal`` (:func:`default_tolerance`).
        ignore_index (int): ground-truth label of pixels to leave out.

    Returns:
        tuple[float, float, float]: ``(f, precision, recall)``.
    """
    return fscore_from_counts(
        *boundary_counts(pred, gt, tolerance, ignore_index))


def segment_label_histogram(segments: np.ndarray,
                            gt: np.ndarray,
                            num_classes: int,
                            ignore_index: int = 255,
                            num_segments: Optional[int] = None
                            ) -> np.ndarray:
    """Ground-truth label counts of every segment.

    Args:
        segments (np.ndarray): ``(H, W)`` segment ids ``>= 0`` (negative =
            no segment, left out).
        gt (np.ndarray): ``(H, W)`` class ids in ``[0, num_classes)`` or
            ``ignore_index``.
        num_classes (int): number of classes.
        ignore_index (int): left out.
        num_segments (int, optional): rows of the result; by default
            ``segments.max() + 1``.

    Returns:
        np.ndarray: ``(S, num_classes)`` int64 pixel counts.
    """
    segments, gt = np.asarray(segments), np.asarray(gt)
    _check_pair(segments, gt, 'segments')
    keep = (gt != ignore_index) & (segments >= 0)
    bad = gt[keep]
    if bad.size and (bad.min() < 0 or bad.max() >= num_classes):
        raise ValueError(f'gt labels must be in [0, {num_classes}) or '
                         f'{ignore_index}, found {np.unique(bad)[:10]}')
    if num_segments is None:
        num_segments = int(segments.max()) + 1 if segments.size else 0
    seg = segments[keep].astype(np.int64)
    if seg.size and seg.max() >= num_segments:
        raise ValueError(f'segment id {seg.max()} >= num_segments '
                         f'{num_segments}')
    flat = seg * num_classes + gt[keep].astype(np.int64)
    return np.bincount(flat, minlength=num_segments * num_classes).reshape(
        num_segments, num_classes)


def majority_labels(histogram: np.ndarray,
                    min_valid_fraction: float = 0.,
                    sizes: Optional[np.ndarray] = None) -> np.ndarray:
    """The oracle labeller: each segment takes its most frequent class.

    Args:
        histogram (np.ndarray): ``(S, num_classes)`` counts from
            :func:`segment_label_histogram`.
        min_valid_fraction (float): a segment whose labelled pixels are at
            most this share of its pixels (``sizes``) gets ``-1`` (used to
            drop mostly-void segments from a retrieval bank).
        sizes (np.ndarray, optional): ``(S,)`` pixel counts including
            ignored pixels; needed when ``min_valid_fraction > 0``.

    Returns:
        np.ndarray: ``(S,)`` int64 class per segment, ``-1`` for segments
        with no labelled pixel (ties go to the lowest class id).
    """
    histogram = np.asarray(histogram)
    labelled = histogram.sum(1)
    labels = np.where(labelled > 0, histogram.argmax(1), -1)
    if min_valid_fraction > 0:
        if sizes is None:
            raise ValueError('min_valid_fraction needs the segment sizes')
        share = labelled / np.maximum(np.asarray(sizes), 1)
        labels = np.where(share > min_valid_fraction, labels, -1)
    return labels.astype(np.int64)


def paint_segments(segment_labels: np.ndarray,
                   segments: np.ndarray) -> np.ndarray:
    """Paint per-segment classes on a segment map.

    Args:
        segment_labels (np.ndarray): ``(S,)`` class of every segment id
            (``-1``: unnamed).
        segments (np.ndarray): ``(H, W)`` segment ids (negative: none).

    Returns:
        np.ndarray: ``(H, W)`` int64 classes, ``-1`` where unnamed or
        without segment.
    """
    lut = np.append(np.asarray(segment_labels, np.int64), -1)
    idx = np.where(segments >= 0, segments, len(lut) - 1)
    idx = np.minimum(idx, len(lut) - 1)
    return lut[idx]


def intersection_union(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                       ignore_index: int = 255
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Per-class intersection and union over the non-ignored pixels.

    Args:
        pred (np.ndarray): ``(H, W)`` predicted classes (``-1``: wrong for
            every class).
        gt (np.ndarray): ``(H, W)`` true classes or ``ignore_index``.
        num_classes (int): number of classes.
        ignore_index (int): left out.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(num_classes,)`` int64 each.
    """
    keep = gt != ignore_index
    p, g = pred[keep].astype(np.int64), gt[keep].astype(np.int64)
    area_gt = np.bincount(g, minlength=num_classes)[:num_classes]
    hit = p == g
    inter = np.bincount(g[hit], minlength=num_classes)[:num_classes]
    area_pred = np.bincount(p[p >= 0], minlength=num_classes)[:num_classes]
    return inter, area_pred + area_gt - inter


def reduce_iou(inters: np.ndarray, unions: np.ndarray,
               reduction: str = 'image') -> float:
    """mIoU from per-image, per-class intersections and unions.

    Args:
        inters (np.ndarray): ``(num_images, num_classes)``.
        unions (np.ndarray): ``(num_images, num_classes)``.
        reduction (str): ``'image'``: per image, the mean IoU of the classes
            with a non-empty union, then the mean over images;
            ``'dataset'``: sums over images first, mean over the classes
            with a non-empty union.

    Returns:
        float: in ``[0, 1]``, ``nan`` when every union is empty.
    """
    inters, unions = np.atleast_2d(inters), np.atleast_2d(unions)
    if reduction == 'dataset':
        inters, unions = inters.sum(0, keepdims=True), unions.sum(
            0, keepdims=True)
    elif reduction != 'image':
        raise ValueError(f"reduction must be 'image' or 'dataset', got "
                         f'{reduction!r}')
    scores = [(i[u > 0] / u[u > 0]).mean() for i, u in zip(inters, unions)
              if (u > 0).any()]
    return float(np.mean(scores)) if scores else float('nan')


def reduce_boundary(counts: np.ndarray,
                    reduction: str = 'image') -> Tuple[float, float, float]:
    """``(f, precision, recall)`` from per-image :func:`boundary_counts`:
    per image then averaged (``'image'``), or pooled (``'dataset'``)."""
    counts = np.atleast_2d(counts)
    if reduction == 'dataset':
        return fscore_from_counts(*counts.sum(0))
    if reduction != 'image':
        raise ValueError(f"reduction must be 'image' or 'dataset', got "
                         f'{reduction!r}')
    return tuple(float(v) for v in np.mean(
        [fscore_from_counts(*c) for c in counts], axis=0))


def region_miou(segments: ArrayOrList,
                gt: ArrayOrList,
                num_classes: int,
                ignore_index: int = 255,
                labeller: Union[str, Callable] = 'oracle',
                reduction: str = 'image') -> float:
    """mIoU of unlabelled segmentations once every segment is named.

    Args:
        segments (np.ndarray | list): one ``(H, W)`` segment-id map or a
            list of them (negative = no segment: wrong for every class).
        gt (np.ndarray | list): the matching class maps.
        num_classes (int): number of classes.
        ignore_index (int): ground-truth label left out.
        labeller (str | callable): ``'oracle'``: a segment takes the class
            covering most of its non-ignored pixels.  A callable is called
            as ``labeller(index, segments)`` with the image's index in the
            list and its segment map, and returns an array of one class id
            per segment id (``-1``: unnamed), e.g. a wrapper of an
            open-vocabulary classifier.
        reduction (str): ``'image'``: per image, the IoU of every class
            present in its ground truth or prediction, averaged, then the
            mean over images (PartImageNet, Table 1); ``'dataset'``:
            intersections and unions summed over all images first, mean over
            the classes present anywhere (VOC, Table 3a).

    Returns:
        float: mIoU in ``[0, 1]`` (``nan`` if nothing is labelled).
    """
    check_reduction(reduction)
    if labeller != 'oracle' and not callable(labeller):
        raise ValueError("labeller must be 'oracle' or a callable, got "
                         f'{labeller!r}')
    segs, gts = _as_list(segments), _as_list(gt)
    if len(segs) != len(gts):
        raise ValueError(f'{len(segs)} segmentations for {len(gts)} ground '
                         'truths')
    inters, unions = [], []
    for i, (seg, g) in enumerate(zip(segs, gts)):
        _check_pair(seg, g, 'segments')
        if labeller == 'oracle':
            names = majority_labels(
                segment_label_histogram(seg, g, num_classes, ignore_index))
        else:
            names = np.asarray(labeller(i, seg), np.int64)
        inter, union = intersection_union(
            paint_segments(names, seg), g, num_classes, ignore_index)
        inters.append(inter)
        unions.append(union)
    if not inters:
        return float('nan')
    return reduce_iou(np.stack(inters), np.stack(unions), reduction)


def confusion_matrix(pred: ArrayOrList,
                     gt: ArrayOrList,
                     num_classes: int,
                     num_clusters: Optional[int] = None,
                     ignore_index: int = 255) -> np.ndarray:
    """Cluster x class pixel counts over a dataset.

    Args:
        pred (np.ndarray | list): ``(H, W)`` cluster ids ``>= 0`` (negative
            = none, left out).
        gt (np.ndarray | list): class maps.
        num_classes (int): number of classes.
        num_clusters (int, optional): rows; by default the largest id + 1.
        ignore_index (int): left out.

    Returns:
        np.ndarray: ``(num_clusters, num_classes)`` int64.
    """
    preds, gts = _as_list(pred), _as_list(gt)
    if len(preds) != len(gts):
        raise ValueError(f'{len(preds)} predictions for {len(gts)} ground '
                         'truths')
    if num_clusters is None:
        num_clusters = max([int(p.max()) + 1 for p in preds if p.size] +
                           [0])
    total = np.zeros((num_clusters, num_classes), np.int64)
    for p, g in zip(preds, gts):
        total += segment_label_histogram(p, g, num_classes, ignore_index,
                                         num_clusters)
    return total


def miou_from_confusion(confusion: np.ndarray,
                        mapping: np.ndarray) -> float:
    """Dataset mIoU once every cluster is mapped to a class.

    Args:
        confusion (np.ndarray): ``(K, num_classes)`` cluster x class counts.
        mapping (np.ndarray): ``(K,)`` class of every cluster (``-1``:
            unmatched, wrong for every class).

    Returns:
        float: mean IoU over the classes present in ground truth or
        prediction.
    """
    confusion = np.asarray(confusion)
    mapping = np.asarray(mapping)
    K, C = confusion.shape
    onehot = np.zeros((K, C), np.int64)
    matched = mapping >= 0
    onehot[np.nonzero(matched)[0], mapping[matched]] = 1
    class_conf = onehot.T @ confusion  # (C predicted, C true)
    inter = np.diag(class_conf)
    # Pixels of unmatched clusters are wrong: they count in the union of
    # their true class through the full ground-truth area.
    union = class_conf.sum(1) + confusion.sum(0) - inter
    present = union > 0
    if not present.any():
        return float('nan')
    return float((inter[present] / union[present]).mean())


def hungarian_mapping(confusion: np.ndarray) -> np.ndarray:
    """One-to-one cluster -> class matching of maximum total overlap.

    Args:
        confusion (np.ndarray): ``(K, num_classes)`` cluster x class counts.

    Returns:
        np.ndarray: ``(K,)`` class of every cluster (``-1``: unmatched, when
        there are more clusters than classes).
    """
    confusion = np.asarray(confusion)
    rows, cols = optimize.linear_sum_assignment(confusion, maximize=True)
    mapping = np.full(confusion.shape[0], -1, np.int64)
    mapping[rows] = cols
    return mapping


def hungarian_miou(pred: ArrayOrList,
                   gt: ArrayOrList,
                   num_classes: int,
                   ignore_index: int = 255,
                   num_clusters: Optional[int] = None
                   ) -> Tuple[float, np.ndarray]:
    """Clustering mIoU with clusters matched one-to-one to classes.

    The clusters are matched to classes by the Hungarian algorithm on the
    dataset's cluster x class confusion matrix (maximum total overlap,
    ``scipy.optimize.linear_sum_assignment``); the mIoU is then pooled over
    the dataset.  Cluster ids are arbitrary: any permutation scores the
    same.  Clusters left without a class (more clusters than classes)
    count as wrong.

    Args:
        pred (np.ndarray | list): cluster maps (ids ``>= 0``).
        gt (np.ndarray | list): class maps.
        num_classes (int): number of classes.
        ignore_index (int): left out.
        num_clusters (int, optional): by default the largest id + 1.

    Returns:
        tuple[float, np.ndarray]: mIoU and the ``(K,)`` class of every
        cluster (``-1``: unmatched).
    """
    confusion = confusion_matrix(pred, gt, num_classes, num_clusters,
                                 ignore_index)
    mapping = hungarian_mapping(confusion)
    return miou_from_confusion(confusion, mapping), mapping


def many_to_one_miou(pred: ArrayOrList,
                     gt: ArrayOrList,
                     num_classes: int,
                     ignore_index: int = 255,
                     num_clusters: Optional[int] = None
                     ) -> Tuple[float, np.ndarray]:
    """Over-clustering mIoU: each cluster takes the class it overlaps most.

    Args: as :func:`hungarian_miou` (any number of clusters).

    Returns:
        tuple[float, np.ndarray]: mIoU and the ``(K,)`` class of every
        cluster (``-1`` for clusters with no labelled pixel).
    """
    confusion = confusion_matrix(pred, gt, num_classes, num_clusters,
                                 ignore_index)
    mapping = majority_labels(confusion)
    return miou_from_confusion(confusion, mapping), mapping


def segment_embeddings(features: np.ndarray,
                       segments: np.ndarray,
                       num_segments: Optional[int] = None,
                       weights: Optional[np.ndarray] = None,
                       normalize: bool = True) -> np.ndarray:
    """Embedding of every segment: the mean of its L2-normalised features.

    Args:
        features (np.ndarray): ``(P, C)`` features of ``P`` units (pixels or
            superpixels).
        segments (np.ndarray): ``(P,)`` segment id of every unit (negative:
            none).
        num_segments (int, optional): rows; by default the largest id + 1.
        weights (np.ndarray, optional): ``(P,)`` weight of every unit (its
            pixel count when units are superpixels).
        normalize (bool): L2-normalise the features first. Pass False when
            they already are unit means (a hierarchy model's
            ``unit_embeddings``: the mean normalised feature of each unit's
            pixels), so that the result is the pixel mean of the segment.

    Returns:
        np.ndarray: ``(S, C)`` float32 (zero rows for empty segments).
    """
    features = np.asarray(features, np.float32)
    segments = np.asarray(segments).reshape(-1)
    if features.ndim != 2 or features.shape[0] != segments.shape[0]:
        raise ValueError(f'features {features.shape} need one row per unit '
                         f'of segments {segments.shape}')
    if num_segments is None:
        num_segments = int(segments.max()) + 1 if segments.size else 0
    unit = features
    if normalize:
        unit = features / np.maximum(
            np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    w = np.ones(len(unit), np.float32) if weights is None else \
        np.asarray(weights, np.float32).reshape(-1)
    keep = segments >= 0
    sums = np.zeros((num_segments, features.shape[1]), np.float64)
    np.add.at(sums, segments[keep], unit[keep] * w[keep, None])
    total = np.bincount(segments[keep], weights=w[keep],
                        minlength=num_segments)[:num_segments]
    return (sums / np.maximum(total, 1e-12)[:, None]).astype(np.float32)


def segment_retrieval(queries: np.ndarray,
                      bank: np.ndarray,
                      bank_labels: np.ndarray,
                      k: int = 20,
                      num_classes: Optional[int] = None,
                      chunk: int = 4096) -> np.ndarray:
    """Label query segments by the vote of their nearest bank segments.

    SegSort's retrieval: cosine similarity between L2-normalised
    embeddings, the ``k`` most similar bank segments vote with their labels,
    the most voted class wins, ties go to the lowest class id.

    Args:
        queries (np.ndarray): ``(Q, C)`` query embeddings.
        bank (np.ndarray): ``(M, C)`` labelled embeddings.
        bank_labels (np.ndarray): ``(M,)`` class ids ``>= 0``.
        k (int): neighbours (capped at ``M``). Defaults to 20.
        num_classes (int, optional): by default the largest label + 1.
        chunk (int): queries per matrix product (bounds memory).

    Returns:
        np.ndarray: ``(Q,)`` int64 predicted classes.
    """
    queries = np.asarray(queries, np.float32)
    bank = np.asarray(bank, np.float32)
    bank_labels = np.asarray(bank_labels, np.int64)
    if bank.ndim != 2 or len(bank) != len(bank_labels) or len(bank) == 0:
        raise ValueError(f'the bank needs one label per embedding and at '
                         f'least one entry, got {bank.shape} and '
                         f'{bank_labels.shape}')
    if queries.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f'queries {queries.shape} and bank {bank.shape} '
                         'need the same width')
    if bank_labels.min() < 0:
        raise ValueError('bank labels must be >= 0 (drop unlabelled '
                         'segments first)')
    if num_classes is None:
        num_classes = int(bank_labels.max()) + 1
    k = min(int(k), len(bank))
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')

    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True),
                              1e-12)

    bank_u = unit(bank)
    out = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), chunk):
        sim = unit(queries[start:start + chunk]) @ bank_u.T
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(sim), num_classes), np.int64)
        np.add.at(votes, (np.repeat(np.arange(len(sim)), k),
                          bank_labels[top].reshape(-1)), 1)
        out[start:start + chunk] = votes.argmax(1)  # ties: lowest id
    return out
