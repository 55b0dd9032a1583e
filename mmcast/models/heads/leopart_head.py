# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart's projection head, prototypes and swapped-prediction loss."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmcast.models.utils.crop_alignment import align_to_box
from mmcast.models.utils.sinkhorn import sinkhorn_knopp
from mmcast.registry import register_model


@register_model
class LeopartHead(BaseModule):
    """Dense clustering head of Leopart (registered in mmpretrain and mmseg).

    Every spatial token goes through an MLP (``in -> hid -> ... -> out``,
    GELU between layers), is L2-normalised and scored against
    ``num_prototypes`` unit-length prototypes (a bias-free linear layer
    whose rows are renormalised before every step).  The loss is a swapped
    prediction on the overlap of views: the teacher's scores of a global
    crop, made balanced by Sinkhorn-Knopp, are the targets of the student's
    predictions (softmax at ``temperature``) of every other crop, both
    resampled on the crops' common region to ``roi_size x roi_size`` cells
    by ``roi_align``.

    Args:
        in_channels (int): token width. Defaults to 384.
        hid_channels (int): hidden width of the MLP. Defaults to 2048.
        out_channels (int): embedding width. Defaults to 256.
        num_layers (int): linear layers of the MLP. Defaults to 3.
        num_prototypes (int): clusters. Defaults to 300.
        temperature (float): of the student's softmax. Defaults to 0.1.
        epsilon (float): Sinkhorn-Knopp regularisation. Defaults to 0.05.
        sinkhorn_iters (int): Defaults to 3.
        roi_size (int): side of the aligned grid. Defaults to 7.
        init_cfg (dict, optional): Defaults to truncated-normal linears
            (std 0.02, zero bias), as the release initialises its head.
    """

    def __init__(self,
                 in_channels: int = 384,
                 hid_channels: int = 2048,
                 out_channels: int = 256,
                 num_layers: int = 3,
                 num_prototypes: int = 300,
                 temperature: float = 0.1,
                 epsilon: float = 0.05,
                 sinkhorn_iters: int = 3,
                 roi_size: int = 7,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.)):
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        widths = [in_channels] + [hid_channels] * (num_layers - 1) + \
            [out_channels]
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.projection = nn.Sequential(*layers)
        self.prototypes = nn.Linear(out_channels, num_prototypes, bias=False)
        self.temperature = temperature
        self.epsilon = epsilon
        self.sinkhorn_iters = sinkhorn_iters
        self.roi_size = roi_size

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        """Renormalise every prototype to unit length (in place)."""
        self.prototypes.weight.copy_(
            F.normalize(self.prototypes.weight, dim=1))

    def forward(self, feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Embed and score every token of a map.

        Args:
            feats (Tensor): ``(B, C, h, w)`` token map.

        Returns:
            tuple[Tensor, Tensor]: unit embeddings ``(B, out, h, w)`` and
            prototype scores ``(B, num_prototypes, h, w)``.
        """
        x = feats.permute(0, 2, 3, 1)
        emb = F.normalize(self.projection(x), dim=-1)
        scores = self.prototypes(emb)
        return emb.permute(0, 3, 1, 2), scores.permute(0, 3, 1, 2)

    def targets(self, scores: Tensor) -> Tensor:
        """Balanced soft assignments of every token of a batch of maps.

        Args:
            scores (Tensor): ``(B, K, h, w)`` teacher scores.

        Returns:
            Tensor: ``(B, K, h, w)``, summing to 1 over ``K``.
        """
        B, K, h, w = scores.shape
        q = sinkhorn_knopp(scores.permute(0, 2, 3, 1).reshape(-1, K),
                           self.epsilon, self.sinkhorn_iters)
        return q.reshape(B, h, w, K).permute(0, 3, 1, 2)

    def loss(self,
             student_scores: Sequence[Tensor],
             teacher_scores: Sequence[Tensor],
             boxes: Tensor,
             valid: Tensor,
             spatial_scales: Sequence[float],
             foreground: Optional[Sequence[Tensor]] = None) -> Tensor:
        """Swapped prediction of the teacher's balanced clusters.

        For every global crop ``g`` (the teacher's views) and every other
        crop ``v``: targets = Sinkhorn-Knopp of the teacher's scores of
        ``g``, resampled on the overlap of ``g`` and ``v``; predictions =
        the student's scores of ``v`` on the same region; cross-entropy per
        aligned cell, averaged over the cells that are foreground in ``g``
        (all cells without a foreground).  The pair terms are averaged over
        ``v`` (``V - 1`` of them) and then over ``g``.

        Args:
            student_scores (Sequence[Tensor]): per crop ``(B, K, h_v, w_v)``.
            teacher_scores (Sequence[Tensor]): per global crop ``(B, K, h,
                w)`` (the first crops).
            boxes (Tensor): ``(B, V, V, 4)`` from
                :func:`~mmcast.models.utils.crop_alignment.overlap_boxes`.
            valid (Tensor): ``(B, V, V)`` bool, the pairs that overlap.
            spatial_scales (Sequence[float]): per crop, map cells per pixel.
            foreground (Sequence[Tensor], optional): per global crop ``(B,
                h, w)`` bool.

        Returns:
            Tensor: the scalar loss.
        """
        V = len(student_scores)
        if boxes.shape[1:3] != (V, V) or len(spatial_scales) != V:
            raise ValueError(f'{V} crops need (B, {V}, {V}, 4) boxes and '
                             f'{V} scales')
        total = student_scores[0].new_zeros(())
        for g, t_scores in enumerate(teacher_scores):
            with torch.no_grad():
                q = self.targets(t_scores)
            subtotal = total.new_zeros(())
            for v in range(V):
                if v == g:
                    continue
                pair = valid[:, g, v].float()
                with torch.no_grad():
                    q_v = align_to_box(q, boxes[:, g, v], spatial_scales[g],
                                       self.roi_size)
                    weight = pair[:, None, None].expand(
                        -1, self.roi_size, self.roi_size)
                    if foreground is not None:
                        fg = align_to_box(foreground[g][:, None].float(),
                                          boxes[:, g, v], spatial_scales[g],
                                          self.roi_size)[:, 0]
                        # cells whose whole neighbourhood is foreground
                        weight = weight * (fg >= 1 - 1e-4).float()
                p_v = align_to_box(student_scores[v], boxes[:, v, g],
                                   spatial_scales[v], self.roi_size)
                log_p = F.log_softmax(p_v / self.temperature, dim=1)
                ce = -(q_v * log_p).sum(1)
                if weight.sum() > 0:
                    subtotal = subtotal + (ce * weight).sum() / weight.sum()
            total = total + subtotal / (V - 1)
        return total / len(teacher_scores)

