# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart: self-supervised learning of object parts (Ziegler & Asano,
CVPR 2022), for ViT and CAST.

Data flow of one step, top to bottom::

    V crops of each image (2 global, 4 local) + their boxes in the image
    -> teacher (EMA of the student) on the global crops: token maps ->
       head -> prototype scores; class-token attention -> foreground
    -> student on every crop: token maps -> head -> prototype scores
    -> for every global crop g and other crop v: Sinkhorn-Knopp targets of
       g and the student's predictions of v, both roi-aligned on the
       overlap of g and v, cross-entropy on g's foreground cells
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from torch import Tensor

from mmcast.models.utils.crop_alignment import overlap_boxes
from mmcast.models.utils.dense_features import dense_features
from mmcast.models.utils.foreground import attention_foreground
from mmcast.registry import register_model

LOSS_MASKS = ('fg', 'bg', 'all')


@register_model
class Leopart(BaseSelfSupervisor):
    """Leopart as an mmpretrain self-supervised algorithm (registered in
    mmpretrain and mmseg).

    The student is the backbone and a
    :class:`~mmcast.models.heads.LeopartHead`; the teacher is their
    exponential moving average (mmpretrain's ``CosineEMA``: ``momentum``
    is the weight of the student, ``1 -`` the release's teacher momentum,
    annealed by a cosine to ``end_momentum`` over training).  The teacher
    sees the first ``num_global_crops`` crops; its balanced cluster
    assignments of each are predicted by the student from every other crop
    on their common region.

    Args:
        backbone (dict): mmpretrain's ``VisionTransformer`` with
            ``out_type='featmap'``, or CAST with ``out_type='raw'`` (and
            ``with_cls_attention=True`` unless ``loss_mask='all'``).
        head (dict): a ``LeopartHead``.
        base_momentum (float): student weight of the EMA update at the
            start. Defaults to 0.0005 (teacher momentum 0.9995).
        end_momentum (float): at the end. Defaults to 0 (momentum 1).
        num_global_crops (int): the teacher's crops. Defaults to 2.
        loss_mask (str): cells the loss is taken on: ``'fg'`` (the
            teacher's attention foreground, default), ``'bg'`` (its
            complement) or ``'all'``.
        keep_mass (float): attention mass of the foreground. Defaults to
            0.6.
        blur_sigma (float): blur of the attention before thresholding.
            Defaults to 0.6.
        min_fg_size (int): smallest foreground region in cells. Defaults 3.
        cast_level (int | str): CAST's dense tokens (see
            :func:`~mmcast.models.utils.dense_features.dense_features`).
            Defaults to ``'all'``.
        pretrained (str, optional), data_preprocessor (dict, optional),
        init_cfg (dict, optional): as ``BaseSelfSupervisor``.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 base_momentum: float = 0.0005,
                 end_momentum: float = 0.,
                 num_global_crops: int = 2,
                 loss_mask: str = 'fg',
                 keep_mass: float = 0.6,
                 blur_sigma: float = 0.6,
                 min_fg_size: int = 3,
                 cast_level: Union[int, str] = 'all',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if loss_mask not in LOSS_MASKS:
            raise ValueError(f'loss_mask must be one of {LOSS_MASKS}, got '
                             f'{loss_mask!r}')
        if num_global_crops < 1:
            raise ValueError('num_global_crops must be >= 1')
        super().__init__(
            backbone=backbone,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.teacher = CosineEMA(
            self.student, momentum=base_momentum, end_momentum=end_momentum)
        self.num_global_crops = num_global_crops
        self.loss_mask = loss_mask
        self.keep_mass = keep_mass
        self.blur_sigma = blur_sigma
        self.min_fg_size = min_fg_size
        self.cast_level = cast_level

    @property
    def student(self) -> nn.ModuleDict:
        """The backbone and head, keyed as in the teacher."""
        return nn.ModuleDict(dict(backbone=self.backbone, head=self.head))

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """The student's ``(B, C, h, w)`` token map of a batch."""
        return dense_features(self.backbone, inputs,
                              cast_level=self.cast_level)['feats']

    def dense_scores(self, model: nn.ModuleDict, views: Sequence[Tensor],
                     with_attention: bool = False) -> List[Dict]:
        """Prototype scores of every view (views of one size in one pass).

        Returns:
            list[dict]: per view ``scores`` ``(B, K, h, w)``,
            ``spatial_scale`` and ``attention`` (or None).
        """
        out, start = [], 0
        while start < len(views):
            end = start
            while end < len(views) and \
                    views[end].shape == views[start].shape:
                end += 1
            group = views[start:end]
            dense = dense_features(model['backbone'], torch.cat(group),
                                   with_attention, self.cast_level)
            _, scores = model['head'](dense['feats'])
            B = group[0].shape[0]
            for i in range(len(group)):
                att = dense['attention']
                out.append(dict(
                    scores=scores[i * B:(i + 1) * B],
                    spatial_scale=dense['spatial_scale'],
                    attention=None if att is None else att[i * B:(i + 1) *
                                                           B]))
            start = end
        return out

    def foreground(self, attention: Tensor) -> Tensor:
        """The loss cells of a global crop from the teacher's attention."""
        fg = attention_foreground(attention, self.keep_mass,
                                  self.blur_sigma, self.min_fg_size)
        return ~fg if self.loss_mask == 'bg' else fg

    def loss(self, inputs: List[Tensor],
             data_samples: List) -> Dict[str, Tensor]:
        """One Leopart step.

        Args:
            inputs (list[Tensor]): ``V`` views ``(B, 3 or 4, H_v, W_v)``,
                the global crops first.
            data_samples (list): per image a ``DataSample`` whose
                ``crop_boxes`` is the ``(V, 4)`` boxes of its crops in the
                original image.

        Returns:
            dict: ``loss``.
        """
        if not isinstance(inputs, (list, tuple)) or \
                len(inputs) <= self.num_global_crops:
            raise ValueError(
                f'Leopart needs a list of more than {self.num_global_crops} '
                'views (the MultiCropWithBoxes transform)')
        if any(not hasattr(s, 'crop_boxes') for s in data_samples):
            raise ValueError("Leopart needs every sample's crop_boxes: pack "
                             "them with PackInputs(algorithm_keys="
                             "['crop_boxes'])")
        device = inputs[0].device
        boxes = torch.stack([
            torch.as_tensor(s.crop_boxes, dtype=torch.float32)
            for s in data_samples
        ]).to(device)
        if boxes.shape[1] != len(inputs):
            raise ValueError(f'{boxes.shape[1]} crop boxes for '
                             f'{len(inputs)} views')
        overlap, valid = overlap_boxes(boxes,
                                       [v.shape[-2:] for v in inputs])

        self.teacher.update_parameters(self.student)
        teacher = self.teacher.module
        self.head.normalize_prototypes()
        teacher['head'].normalize_prototypes()
        with_attention = self.loss_mask != 'all'
        was_training = teacher.training
        teacher.eval()  # no drop path in the targets
        with torch.no_grad():
            t_out = self.dense_scores(teacher,
                                      inputs[:self.num_global_crops],
                                      with_attention)
        teacher.train(was_training)
        s_out = self.dense_scores(self.student, inputs)
        foreground = [self.foreground(t['attention']) for t in t_out] \
            if with_attention else None
        loss = self.head.loss([s['scores'] for s in s_out],
                              [t['scores'] for t in t_out], overlap, valid,
                              [s['spatial_scale'] for s in s_out],
                              foreground)
        return dict(loss=loss)
