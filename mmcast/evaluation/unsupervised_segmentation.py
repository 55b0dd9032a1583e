# Copyright (c) mmcast contributors. All rights reserved.
"""Fully unsupervised semantic segmentation from dense features (Leopart).

Top to bottom::

    dense features of all images (train + val), attention foreground
    -> k-means (K_fg, spherical) of every cell; cluster-based foreground
       extraction: clusters mostly inside the attention foreground
       (precision threshold tuned on train ground truth)
    -> k-means (K_parts) of the foreground cells only: part clusters
    -> co-occurrence graph of the part clusters -> communities (Infomap)
    -> prediction: background 0, community c -> c + 1
    -> Hungarian mIoU against the classes

The only label-derived choices, the precision threshold and the community
detection settings (``k_parts``, ``markov_time``, ``weight_threshold``),
are chosen on the training split and applied to the validation split.
"""
import itertools
from typing import Dict, Optional, Sequence

import numpy as np

from mmcast.evaluation.community_detection import (cooccurrence_edges,
                                                   cooccurrence_matrix,
                                                   detect_communities)
from mmcast.evaluation.dense_clustering import cluster_maps, clustering_miou
from mmcast.evaluation.foreground_extraction import (
    cluster_foreground_precision, foreground_from_clusters, foreground_iou,
    tune_precision_threshold)

__all__ = ['FullyUnsupervisedSegmentation']


class FullyUnsupervisedSegmentation:
    """CBFE + community detection, tuned on train, scored on val.

    Args:
        num_classes (int): classes of the ground truth (background
            included).
        background_classes (Sequence[int]): classes that are background.
            Defaults to ``(0,)`` (VOC).
        k_foreground (int): clusters of the foreground extraction.
            Defaults to 200 (release).
        k_parts (Sequence[int]): part cluster counts to try. Defaults to
            ``(150,)`` (the release's tuned 149 for ViT-S/16, rounded).
        markov_times (Sequence[float]): Infomap Markov times to try.
        weight_thresholds (Sequence[float]): edge thresholds to try.
        num_objects (int, optional): Infomap's preferred number of modules
            (VOC: 20). Defaults to ``num_classes - len(background)``.
        method (str): ``'infomap'`` or ``'louvain'``.
        pca_dim (int, optional): PCA width before k-means. Defaults to 50.
        kmeans_iters (int): Defaults to 100.
        seed (int): k-means and community detection seed (>= 1). Defaults
            to 1.
        cut_range (Sequence[float]): see :func:`tune_precision_threshold`.
        ignore_index (int): Defaults to 255.
    """

    def __init__(self,
                 num_classes: int,
                 background_classes: Sequence[int] = (0, ),
                 k_foreground: int = 200,
                 k_parts: Sequence[int] = (150, ),
                 markov_times: Sequence[float] = (1., ),
                 weight_thresholds: Sequence[float] = (0.05, ),
                 num_objects: Optional[int] = None,
                 method: str = 'infomap',
                 pca_dim: Optional[int] = 50,
                 kmeans_iters: int = 100,
                 seed: int = 1,
                 cut_range: Sequence[float] = (0.55, 0.75),
                 ignore_index: int = 255):
        if seed < 1:
            raise ValueError(f'seed must be >= 1 (Infomap), got {seed}')
        self.num_classes = num_classes
        self.background_classes = list(background_classes)
        self.k_foreground = k_foreground
        self.k_parts = list(k_parts)
        self.markov_times = list(markov_times)
        self.weight_thresholds = list(weight_thresholds)
        self.num_objects = num_objects or \
            num_classes - len(self.background_classes)
        self.method = method
        self.pca_dim = pca_dim
        self.kmeans_iters = kmeans_iters
        self.seed = seed
        self.cut_range = cut_range
        self.ignore_index = ignore_index

    def _truth(self, gts: np.ndarray):
        valid = gts != self.ignore_index
        fg = valid & ~np.isin(gts, self.background_classes)
        return fg, valid

    def extract_foreground(self, features: np.ndarray,
                           attention_fg: np.ndarray, gts: np.ndarray,
                           train: np.ndarray) -> Dict:
        """CBFE: clusters mostly inside the attention foreground.

        Returns:
            dict: ``foreground`` ``(N, h, w)`` bool, ``threshold``,
            ``train_iou`` (of the tuned cut) and ``val_iou``.
        """
        clusters = cluster_maps(features, self.k_foreground, self.pca_dim,
                                self.kmeans_iters, self.seed, spherical=True)
        truth, valid = self._truth(gts)
        # precisions per split: the val split's threshold is train's, its
        # cluster precisions its own (no label is used there)
        splits = [s for s in (train, ~train) if s.any()]
        precision = [cluster_foreground_precision(
            clusters[s], attention_fg[s], self.k_foreground) for s in splits]
        threshold, train_iou = tune_precision_threshold(
            clusters[train], precision[0], truth[train], valid[train],
            self.cut_range)
        fg = np.zeros(clusters.shape, bool)
        for s, p in zip(splits, precision):
            fg[s] = foreground_from_clusters(clusters[s], p, threshold)
        val = ~train
        val_iou = foreground_iou(fg[val], truth[val], valid[val]) \
            if val.any() else float('nan')
        return dict(foreground=fg, threshold=threshold, train_iou=train_iou,
                    val_iou=val_iou)

    def merge(self, parts: np.ndarray, k: int, markov_time: float,
              weight_threshold: float) -> np.ndarray:
        """Community of every part cluster; predictions ``(N, h, w)``:
        0 background, ``c + 1`` community ``c``."""
        matrix = cooccurrence_matrix(parts, k)
        edges = cooccurrence_edges(matrix, weight_threshold)
        communities = detect_communities(k, edges, self.method, markov_time,
                                         self.seed, self.num_objects)
        lut = np.append(communities + 1, 0)
        return lut[np.where(parts < 0, k, parts)]

    def score(self, pred: np.ndarray, gts: np.ndarray) -> float:
        """Hungarian mIoU over the dataset (predicted ids are matched one
        to one to the classes)."""
        num = int(pred.max()) + 1 if pred.size else 1
        miou, _ = clustering_miou(list(pred), list(gts), self.num_classes,
                                  'hungarian', num, self.ignore_index)
        return miou

    def run(self, features: np.ndarray, attention_fg: np.ndarray,
            gts: np.ndarray, train: np.ndarray) -> Dict:
        """The whole path.

        Args:
            features (np.ndarray): ``(N, h, w, C)`` dense features of all
                images, at the resolution of ``gts``.
            attention_fg (np.ndarray): ``(N, h, w)`` bool noisy foreground
                (e.g. the class token's attention through
                :func:`~mmcast.models.utils.attention_foreground`).
            gts (np.ndarray): ``(N, h, w)`` class maps.
            train (np.ndarray): ``(N,)`` bool, the images whose ground
                truth may tune the settings; the others are scored.

        Returns:
            dict: ``miou`` (val), ``train_miou``, the chosen ``k_parts``,
            ``markov_time``, ``weight_threshold``, ``num_communities``,
            the CBFE ``threshold`` and IoUs, ``predictions`` ``(N, h, w)``.
        """
        gts = np.asarray(gts)
        train = np.asarray(train, bool)
        if not train.any():
            raise ValueError('no training image to tune on')
        cbfe = self.extract_foreground(features, attention_fg, gts, train)
        val = ~train if (~train).any() else train
        best = None
        for k in self.k_parts:
            parts = cluster_maps(features, k, self.pca_dim,
                                 self.kmeans_iters, self.seed,
                                 mask=cbfe['foreground'])
            for mt, wt in itertools.product(self.markov_times,
                                            self.weight_thresholds):
                pred = self.merge(parts, k, mt, wt)
                train_miou = self.score(pred[train], gts[train])
                if best is None or train_miou > best['train_miou']:
                    best = dict(train_miou=train_miou, k_parts=k,
                                markov_time=mt, weight_threshold=wt,
                                predictions=pred,
                                num_communities=int(pred.max()))
        best['miou'] = self.score(best['predictions'][val], gts[val])
        best.update(threshold=cbfe['threshold'],
                    cbfe_train_iou=cbfe['train_iou'],
                    cbfe_val_iou=cbfe['val_iou'])
        return best
