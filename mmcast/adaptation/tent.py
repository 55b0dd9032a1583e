# Copyright (c) mmcast contributors. All rights reserved.
"""TENT on one image: recognition-driven refinement of the hierarchy.

CAST's segments come from the same forward pass that recognises the image,
so making the recognition more confident on a test image re-shapes its
segmentation (paper appendix C, Fig. 9).  :func:`tent_adapt` minimises the
entropy of a cosine classifier over the image's class-token feature, with
one SGD step (by default) on the affine parameters of the normalisation
layers only, and returns an adapted copy: the given model is untouched.

The class vectors are the means of L2-normalised training embeddings per
class (:func:`class_means`); the classifier's softmax temperature is 0.07.
The paper states no learning rate: it is a required argument.
"""
import copy
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

#: Normalisation layers whose affine parameters TENT updates.
NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


def norm_parameters(model: nn.Module) -> List[nn.Parameter]:
    """The affine weights and biases of every normalisation layer."""
    params = []
    for m in model.modules():
        if isinstance(m, NORM_TYPES):
            params += [p for p in (m.weight, m.bias) if p is not None]
    return params


def image_embeddings(model: nn.Module, inputs: Tensor) -> Tensor:
    """Class-token features ``(B, C)`` of a CAST model, with gradients.

    Args:
        model (nn.Module): a model whose ``backbone`` is CAST (a segmentor,
            classifier or :class:`~mmcast.models.segmentors.
            HierarchySegmentor`).
        inputs (Tensor): ``(B, 4, H, W)`` (superpixels last), as the CAST
            data preprocessors give them.
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None or not hasattr(backbone, 'num_stages'):
        raise TypeError('TENT needs a model whose backbone is CAST, got '
                        f'{type(backbone).__name__}')
    out_type = backbone.out_type
    backbone.out_type = 'cls_token'
    try:
        return backbone(inputs)[0]
    finally:
        backbone.out_type = out_type


def class_means(features: Tensor, labels: Tensor,
                num_classes: Optional[int] = None) -> Tensor:
    """Class vectors of the cosine classifier.

    Args:
        features (Tensor): ``(N, C)`` training embeddings.
        labels (Tensor): ``(N,)`` class ids (negative: left out).
        num_classes (int, optional): by default the largest label + 1.

    Returns:
        Tensor: ``(K, C)`` the mean L2-normalised embedding of every class
        (zero for classes without an example).
    """
    labels = labels.long()
    keep = labels >= 0
    if not bool(keep.any()):
        raise ValueError('class_means needs at least one labelled example')
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    feats = F.normalize(features[keep].float(), dim=-1)
    sums = feats.new_zeros(num_classes, feats.shape[1]).index_add_(
        0, labels[keep], feats)
    counts = torch.bincount(labels[keep], minlength=num_classes)
    return sums / counts.clamp(min=1)[:, None].to(sums)


def entropy_loss(features: Tensor, means: Tensor,
                 temperature: float = 0.07) -> Tensor:
    """Mean prediction entropy of the cosine classifier.

    Args:
        features (Tensor): ``(B, C)`` image embeddings.
        means (Tensor): ``(K, C)`` class vectors.
        temperature (float): softmax temperature. Defaults to 0.07.
    """
    logits = F.normalize(features, dim=-1) @ F.normalize(
        means, dim=-1).t() / temperature
    log_p = logits.log_softmax(-1)
    return -(log_p.exp() * log_p).sum(-1).mean()


def tent_adapt(model: nn.Module,
               inputs: Tensor,
               means: Tensor,
               lr: float,
               steps: int = 1,
               temperature: float = 0.07,
               momentum: float = 0.) -> nn.Module:
    """Adapt a copy of a CAST model to one image (or batch) with TENT.

    Args:
        model (nn.Module): a model with a CAST ``backbone``; left untouched.
        inputs (Tensor): ``(B, 4, H, W)`` preprocessed input.
        means (Tensor): ``(K, C)`` class vectors (:func:`class_means`).
        lr (float): SGD learning rate (required: the paper gives none).
        steps (int): SGD steps. Defaults to 1.
        temperature (float): Defaults to 0.07.
        momentum (float): SGD momentum. Defaults to 0.

    Returns:
        nn.Module: the adapted copy, in eval mode (normalisation layers keep
        their running statistics: only their affine parameters move).
    """
    if lr is None or lr <= 0:
        raise ValueError(f'tent_adapt needs a positive lr, got {lr}')
    if steps < 1:
        raise ValueError(f'steps must be >= 1, got {steps}')
    adapted = copy.deepcopy(model)
    adapted.eval()
    adapted.requires_grad_(False)
    params = norm_parameters(adapted)
    if not params:
        raise ValueError('the model has no normalisation layer to adapt')
    for p in params:
        p.requires_grad_(True)
    optim = torch.optim.SGD(params, lr=lr, momentum=momentum)
    means = means.to(inputs.device)
    with torch.enable_grad():
        for _ in range(steps):
            loss = entropy_loss(image_embeddings(adapted, inputs), means,
                                temperature)
            optim.zero_grad()
            loss.backward()
            optim.step()
    adapted.requires_grad_(False)
    return adapted
