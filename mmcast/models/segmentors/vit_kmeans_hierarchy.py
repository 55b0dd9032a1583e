# Copyright (c) mmcast contributors. All rights reserved.
"""The ViT + k-means hierarchy baseline (CAST paper, appendix E.5)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmcast.models.segmentors.hierarchy_segmentor import (
    HierarchySegmentor, build_preprocessor)
from mmcast.models.utils.superpixel_ops import relabel_superpixels
from mmcast.registry import SEG_MODELS, register_model


def kmeans(x: np.ndarray, k: int, iters: int = 30, seed: int = 0) -> tuple:
    """Lloyd's k-means with random initialisation (faiss-cpu).

    Args:
        x (np.ndarray): ``(n, d)`` points.
        k (int): clusters, capped at the number of distinct points.
        iters (int): iterations.
        seed (int): seed of the initial centroids.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(n,)`` int64 assignment and the
        ``(k, d)`` float32 centroids.
    """
    import faiss
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = int(min(k, len(np.unique(x, axis=0))))
    if k <= 1:
        return np.zeros(len(x), np.int64), x.mean(0, keepdims=True)
    km = faiss.Kmeans(x.shape[1], k, niter=iters, seed=seed,
                      min_points_per_centroid=1, max_points_per_centroid=
                      max(256, len(x) // k + 1), verbose=False)
    km.train(x)
    _, assign = km.index.search(x, 1)
    return assign[:, 0].astype(np.int64), km.centroids


def nested_kmeans(feats: np.ndarray, num_clusters: Sequence[int],
                  iters: int = 30, seed: int = 0) -> List[np.ndarray]:
    """k-means on the points, then on the previous level's cluster means.

    Args:
        feats (np.ndarray): ``(n, d)`` pixel features.
        num_clusters (Sequence[int]): clusters per level, decreasing.
        iters (int): k-means iterations.
        seed (int): seed of the first level (level ``l`` uses ``seed+l``).

    Returns:
        list[np.ndarray]: per level the ``(n,)`` cluster of every point,
        contiguous ids; nested by construction.
    """
    labels, out = None, []
    points = feats
    for level, k in enumerate(num_clusters):
        assign, _ = kmeans(points, k, iters, seed + level)
        _, assign = np.unique(assign, return_inverse=True)
        labels = assign if labels is None else assign[labels]
        out.append(labels)
        # Means of the clusters just found: the points of the next level.
        count = np.bincount(labels, minlength=labels.max() + 1)
        points = np.zeros((len(count), feats.shape[1]), np.float64)
        np.add.at(points, labels, feats)
        points = (points / np.maximum(count, 1)[:, None]).astype(np.float32)
    return out


@register_model
class ViTKMeansHierarchy(HierarchySegmentor):
    """A stock ViT's hierarchy by nested k-means (registered in mmseg and
    mmpretrain).

    The last block's tokens (before the final norm, as the release notebook
    takes them) are bilinearly upsampled to the image; k-means on the pixel
    features gives the first level, and k-means on the previous level's
    cluster means the next ones (64 -> 32 -> 16 -> 8 by default), so the
    levels nest as CAST's do.  Level 0, the units (CAST's superpixels), is
    the patch grid cut by the first level: every unit is one patch's pixels
    of one first-level cluster, so it lies in exactly one segment of every
    level.  The output is that of :class:`HierarchySegmentor`: the same
    ``HierarchyResult``, data samples and metrics apply.

    Args:
        backbone (dict): a stock ``VisionTransformer`` (mmpretrain's or
            mmseg's; name the scope, e.g. ``'mmpretrain.VisionTransformer'``),
            or a :class:`~mmcast.models.backbones.PatchTokenViT` wrapping one
            (``neck=None``; the layout of its checkpoints).
        num_clusters (Sequence[int]): clusters per level. Defaults to
            ``(64, 32, 16, 8)``.
        kmeans_iters (int): Defaults to 30.
        seed (int): seed of the k-means initialisation. Defaults to 0.
        feature (str): ``'last_block'`` (default; tokens before the final
            norm) or ``'output'`` (the backbone's last output map).
        with_embeddings (bool): see :class:`HierarchySegmentor`.
        data_preprocessor (dict, optional): any segmentation preprocessor;
            a 4th (superpixel) channel is ignored.
        init_cfg (dict, optional): initialisation config.
        train_cfg, test_cfg (dict, optional): accepted for mmseg's
            conventions (``init_model`` sets them); unused.
    """

    def __init__(self,
                 backbone: dict,
                 num_clusters: Sequence[int] = (64, 32, 16, 8),
                 kmeans_iters: int = 30,
                 seed: int = 0,
                 feature: str = 'last_block',
                 with_embeddings: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None):
        if feature not in ('last_block', 'output'):
            raise ValueError("feature must be 'last_block' or 'output', "
                             f'got {feature!r}')
        super(HierarchySegmentor, self).__init__(
            data_preprocessor=build_preprocessor(data_preprocessor),
            init_cfg=init_cfg)
        self.backbone = SEG_MODELS.build(backbone)
        if not hasattr(self.vit, 'patch_embed') or not hasattr(
                self.vit, 'layers'):
            raise TypeError('ViTKMeansHierarchy needs a VisionTransformer '
                            '(patch_embed + layers), got '
                            f'{type(self.backbone).__name__}')
        self.num_clusters = list(num_clusters)
        self.kmeans_iters = kmeans_iters
        self.seed = seed
        self.feature = feature
        self.with_embeddings = with_embeddings

    @property
    def vit(self):
        """The ViT (inside a ``PatchTokenViT`` or the backbone itself)."""
        return getattr(self.backbone, 'vit', self.backbone)

    def token_map(self, img: Tensor) -> Tensor:
        """Token features as a map ``(B, C, h, w)``.

        Args:
            img (Tensor): ``(B, 3, H, W)`` normalised images.
        """
        if self.feature == 'output':
            return self.vit(img)[-1]
        seen = {}
        hooks = [
            self.vit.patch_embed.register_forward_hook(
                lambda m, i, o: seen.__setitem__('size', o[1])),
            self.vit.layers[-1].register_forward_hook(
                lambda m, i, o: seen.__setitem__('tokens', o)),
        ]
        try:
            self.vit(img)
        finally:
            for h in hooks:
                h.remove()
        (h, w), tokens = seen['size'], seen['tokens']
        tokens = tokens[:, tokens.shape[1] - h * w:]  # drop class tokens
        return tokens.transpose(1, 2).reshape(len(tokens), -1, h, w)

    def extract_hierarchy(self,
                          inputs: Tensor,
                          num_clusters: Optional[Sequence[int]] = None,
                          return_soft: bool = False) -> List[Dict]:
        """See :meth:`HierarchySegmentor.extract_hierarchy` (no soft maps:
        k-means is hard)."""
        if return_soft:
            raise ValueError('the k-means hierarchy has no soft maps')
        img = inputs[:, :3]
        B, _, H, W = img.shape
        tokens = self.token_map(img)
        h, w = tokens.shape[-2:]
        pixels = F.interpolate(tokens, size=(H, W), mode='bilinear',
                               align_corners=False)
        clusters = list(num_clusters or self.num_clusters)
        ys = torch.div(torch.arange(H) * h, H, rounding_mode='floor')
        xs = torch.div(torch.arange(W) * w, W, rounding_mode='floor')
        patch = (ys[:, None] * w + xs[None]).to(img.device)
        results = []
        for b in range(B):
            feats = pixels[b].flatten(1).t()  # (H*W, C)
            levels = nested_kmeans(feats.detach().cpu().numpy(), clusters,
                                   self.kmeans_iters, self.seed)
            first = torch.from_numpy(levels[0]).to(img.device).view(H, W)
            # Units: one patch's pixels of one first-level cluster.
            units, counts = relabel_superpixels(
                (patch * (int(first.max()) + 1) + first)[None])
            units, n0 = units[0], int(counts[0])
            flat = units.reshape(-1)
            unit_levels = [torch.arange(n0, device=img.device)]
            for lab in levels:
                lab = torch.from_numpy(lab).to(img.device)
                per_unit = torch.zeros(n0, dtype=torch.long,
                                       device=img.device)
                per_unit[flat] = lab
                unit_levels.append(per_unit)
            weights = torch.bincount(flat, minlength=n0)
            unit = F.normalize(feats, dim=-1)
            emb = unit.new_zeros(n0, unit.shape[1]).index_add_(0, flat, unit)
            results.append(dict(
                superpixels=units,
                unit_levels=unit_levels,
                unit_embeddings=emb / weights[:, None].clamp(min=1),
                unit_weights=weights,
                borrowed=torch.zeros(n0, dtype=torch.bool,
                                     device=img.device),
                level_sizes=[n0] + clusters,
                cls_feat=None))
        return results
