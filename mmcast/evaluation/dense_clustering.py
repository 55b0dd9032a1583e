# Copyright (c) mmcast contributors. All rights reserved.
"""Clustering the dense features of a dataset (Leopart's protocol).

Every spatial token of every image is a point; the points are
standardised, optionally reduced by PCA, clustered by k-means (faiss-cpu),
and the clusters are mapped to classes on the dataset's cluster x class
confusion matrix: one-to-one by the Hungarian algorithm (K = number of
classes) or many-to-one (over-clustering, K = 100, 500).  The matching and
the mIoU are :mod:`mmcast.evaluation.functional`'s.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmcast.evaluation.functional import (confusion_matrix, hungarian_mapping,
                                          majority_labels,
                                          miou_from_confusion)

__all__ = [
    'standardize', 'reduce_dims', 'kmeans_assign', 'cluster_maps',
    'clustering_miou', 'dense_clustering_miou'
]


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per dimension (``(n, d)`` float32)."""
    x = np.asarray(x, np.float32)
    return (x - x.mean(0)) / (x.std(0) + 1e-5)


def reduce_dims(x: np.ndarray, dims: Optional[int]) -> np.ndarray:
    """PCA to ``dims`` dimensions (faiss ``PCAMatrix``); unchanged when
    ``dims`` is None or not below the width."""
    x = np.ascontiguousarray(x, np.float32)
    if dims is None or dims >= x.shape[1]:
        return x
    import faiss
    pca = faiss.PCAMatrix(x.shape[1], int(dims))
    pca.train(x)
    return pca.apply_py(x)


def kmeans_assign(x: np.ndarray,
                  k: int,
                  iters: int = 100,
                  seed: int = 0,
                  spherical: bool = False,
                  max_train: Optional[int] = None) -> np.ndarray:
    """k-means clusters of ``(n, d)`` points.

    The centroids are fitted (by
    :func:`mmcast.models.segmentors.vit_kmeans_hierarchy.kmeans`) on all
    points or a seeded sample of ``max_train`` of them; every point then
    takes its nearest centroid.  ``spherical``: on L2-normalised points.

    Returns:
        np.ndarray: ``(n,)`` int64 cluster ids in ``[0, k)``.
    """
    from mmcast.models.segmentors.vit_kmeans_hierarchy import kmeans
    x = np.ascontiguousarray(x, np.float32)
    if spherical:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    train = x
    if max_train is not None and len(x) > max_train:
        pick = np.random.default_rng(seed).choice(len(x), max_train,
                                                  replace=False)
        train = x[pick]
    labels, centroids = kmeans(train, k, iters, seed)
    if train is x:
        return labels
    import faiss
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(centroids, np.float32))
    return index.search(x, 1)[1][:, 0].astype(np.int64)


def cluster_maps(features: np.ndarray,
                 k: int,
                 pca_dim: Optional[int] = 50,
                 iters: int = 100,
                 seed: int = 0,
                 spherical: bool = False,
                 mask: Optional[np.ndarray] = None,
                 max_train: Optional[int] = None) -> np.ndarray:
    """Cluster every cell of a stack of feature maps.

    Args:
        features (np.ndarray): ``(N, h, w, C)`` features (channels last).
        k (int): clusters.
        pca_dim (int, optional): PCA width after standardisation (None:
            none). Defaults to 50, the release's.
        iters (int): k-means iterations. Defaults to 100.
        seed (int): k-means seed.
        spherical (bool): cluster L2-normalised points.
        mask (np.ndarray, optional): ``(N, h, w)`` bool, the cells to
            cluster; the others get ``-1``.
        max_train (int, optional): fit on a sample of this many points.

    Returns:
        np.ndarray: ``(N, h, w)`` int64 cluster maps.
    """
    features = np.asarray(features)
    if features.ndim != 4:
        raise ValueError('features must be (N, h, w, C), got '
                         f'{features.shape}')
    N, h, w, C = features.shape
    flat = features.reshape(-1, C)
    keep = np.ones(len(flat), bool) if mask is None else \
        np.asarray(mask, bool).reshape(-1)
    if keep.shape[0] != len(flat):
        raise ValueError(f'mask {np.shape(mask)} does not match features '
                         f'{features.shape}')
    out = np.full(len(flat), -1, np.int64)
    if keep.any():
        x = reduce_dims(standardize(flat[keep]), pca_dim)
        out[keep] = kmeans_assign(x, k, iters, seed, spherical, max_train)
    return out.reshape(N, h, w)


def clustering_miou(clusters: Sequence[np.ndarray],
                    gts: Sequence[np.ndarray],
                    num_classes: int,
                    mode: str = 'hungarian',
                    num_clusters: Optional[int] = None,
                    ignore_index: int = 255) -> Tuple[float, np.ndarray]:
    """Dataset mIoU of cluster maps after mapping clusters to classes.

    Args:
        clusters (Sequence[np.ndarray]): ``(H, W)`` cluster ids (negative:
            none, left out of the confusion matrix).
        gts (Sequence[np.ndarray]): ``(H, W)`` class maps.
        num_classes (int): classes.
        mode (str): ``'hungarian'`` (one-to-one) or ``'many_to_one'``.
        num_clusters (int, optional): by default the largest id + 1.
        ignore_index (int): left out.

    Returns:
        tuple[float, np.ndarray]: mIoU in ``[0, 1]`` and the class of every
        cluster (``-1``: none).
    """
    if mode not in ('hungarian', 'many_to_one'):
        raise ValueError("mode must be 'hungarian' or 'many_to_one', got "
                         f'{mode!r}')
    confusion = confusion_matrix(list(clusters), list(gts), num_classes,
                                 num_clusters, ignore_index)
    mapping = hungarian_mapping(confusion) if mode == 'hungarian' else \
        majority_labels(confusion)
    return miou_from_confusion(confusion, mapping), mapping


def dense_clustering_miou(features: np.ndarray,
                          gts: Sequence[np.ndarray],
                          num_classes: int,
                          ks: Optional[Sequence[int]] = None,
                          pca_dim: Optional[int] = 50,
                          iters: int = 100,
                          seeds: Sequence[int] = (0, ),
                          ignore_index: int = 255,
                          max_train: Optional[int] = None
                          ) -> Dict[str, float]:
    """Leopart's clustering scores of dense features.

    For every K: k-means of all cells of all images (see
    :func:`cluster_maps`), then Hungarian mIoU when ``K == num_classes``
    and many-to-one mIoU otherwise, averaged over ``seeds``.

    Args:
        features (np.ndarray): ``(N, h, w, C)``, already at the resolution
            of ``gts`` (e.g. bilinearly upsampled token maps).
        gts (Sequence[np.ndarray]): ``N`` class maps ``(h, w)``.
        num_classes (int): classes.
        ks (Sequence[int], optional): cluster counts; by default
            ``(num_classes, 100, 500)``.
        pca_dim, iters, ignore_index, max_train: see :func:`cluster_maps`.
        seeds (Sequence[int]): k-means seeds to average over.

    Returns:
        dict: ``{'hungarian@K': miou, 'many_to_one@K': miou, ...}`` in
        ``[0, 1]``.
    """
    ks = list(ks or (num_classes, 100, 500))
    if len(gts) != len(features):
        raise ValueError(f'{len(features)} feature maps for {len(gts)} '
                         'ground truths')
    scores: Dict[str, List[float]] = {}
    for k in ks:
        mode = 'hungarian' if k == num_classes else 'many_to_one'
        for seed in seeds:
            maps = cluster_maps(features, k, pca_dim, iters, seed,
                                max_train=max_train)
            miou, _ = clustering_miou(maps, gts, num_classes, mode, k,
                                      ignore_index)
            scores.setdefault(f'{mode}@{k}', []).append(miou)
    return {name: float(np.mean(v)) for name, v in scores.items()}
