# Copyright (c) mmcast contributors. All rights reserved.
"""What :func:`mmcast.apis.inference_hierarchy` returns."""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np


@dataclass
class HierarchyResult:
    """CAST's part-whole hierarchy of one image (and its class scores).

    Attributes:
        levels (list[np.ndarray]): ``num_stages + 1`` int32 label maps of
            shape ``(H, W)`` at the original image's resolution.  Level 0
            holds the superpixels (contiguous ids ``0..N0-1``), level ``l``
            the segment (cluster index ``0..N_l-1``) of every pixel after
            stage ``l``'s GraphPool.  Nested by construction: every pixel's
            level ``l+1`` label is a function of its level ``l`` label.
        superpixels (np.ndarray): ``(h, w)`` int32 superpixels at the
            resolution the network saw (``input_shape``).
        ori_shape (tuple[int, int]): ``(H, W)`` of the given image.
        input_shape (tuple[int, int]): ``(h, w)`` the network saw (after the
            test pipeline's resize).
        num_clusters (list[int]): clusters asked of each stage.
        superpixel_labels (list[np.ndarray]): per level, ``(N0,)`` int64:
            the segment of every superpixel (the chained ``argmax``).
        borrowed (np.ndarray): ``(N0,)`` bool: superpixels that got no token
            (too small for the stride-8 grid of ``token_pooling='stem'``)
            and take the labels of the token covering most of their pixels.
        soft (list[np.ndarray], optional): with ``return_soft``, per level
            ``l >= 1`` the soft map ``S_l = S_{l-1} P_l`` as ``(N0, N_l)``
            float32 rows (a probability over level-``l`` segments for every
            superpixel; ``soft[l-1][levels[0]]`` paints it as ``(H, W,
            N_l)``).
        scores (np.ndarray, optional): ``(num_classes,)`` class scores of a
            classifier (softmax, or sigmoid for multi-label heads), from the
            class token of the same forward pass.
        pred_label (int, optional): ``argmax`` of ``scores``.
        classes (tuple[str], optional): class names from the model's
            ``dataset_meta``.
    """
    levels: List[np.ndarray]
    superpixels: np.ndarray
    ori_shape: Tuple[int, int]
    input_shape: Tuple[int, int]
    num_clusters: List[int]
    superpixel_labels: List[np.ndarray]
    borrowed: np.ndarray
    soft: Optional[List[np.ndarray]] = None
    scores: Optional[np.ndarray] = None
    pred_label: Optional[int] = None
    classes: Optional[Tuple[str, ...]] = field(default=None)

    @property
    def num_levels(self) -> int:
        """Number of levels, superpixels included."""
        return len(self.levels)

    def topk(self, k: int = 5) -> List[Tuple[int, float, Optional[str]]]:
        """The ``k`` best classes as ``(index, score, name or None)``."""
        if self.scores is None:
            return []
        order = np.argsort(-self.scores, kind='stable')[:k]
        return [(int(i), float(self.scores[i]),
                 self.classes[i] if self.classes is not None
                 and i < len(self.classes) else None) for i in order]
