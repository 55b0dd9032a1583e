# Copyright (c) mmcast contributors. All rights reserved.
"""Build a CAST model from a config and read its part-whole hierarchy.

In the manner of mmseg's ``init_model`` / ``inference_model``, for both
kinds of CAST models: mmseg segmentors (``EncoderDecoder`` with a CAST
backbone) and mmpretrain classifiers (``ImageClassifier`` with CAST).
"""
import copy
import logging
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.utils import import_modules_from_strings
from torch import nn

from mmcast.apis.hierarchy_result import HierarchyResult
from mmcast.datasets.transforms.superpixel import (Superpixels,
                                                   to_three_channels)
from mmcast.engine.checkpoint import load_model_checkpoint

#: Transform types of a test pipeline that :func:`inference_hierarchy`
#: replays before computing superpixels (scope prefixes are ignored).  Crops,
#: flips, loading, annotations and packing are left out, so the hierarchy
#: always covers the whole image.
RESIZE_TRANSFORMS = ('Resize', 'ResizeEdge', 'ResizeShortestEdge')

RANDOM_WEIGHTS = (
    'init_model: no checkpoint given, the model has RANDOM weights: its '
    'hierarchy and class scores show the code path, not what CAST learns; '
    'pass a checkpoint for meaningful results')


def _registry(kind: str, scope: str):
    """mmseg's or mmpretrain's ``MODELS``/``TRANSFORMS`` by scope."""
    if scope == 'mmpretrain':
        from mmpretrain import registry
    elif scope == 'mmseg':
        from mmseg import registry
    else:
        raise ValueError(f"a CAST config needs default_scope 'mmseg' or "
                         f"'mmpretrain', got {scope!r}")
    return getattr(registry, kind)


def init_model(config: Union[str, Path, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a CAST segmentor or classifier from a config for inference.

    Works for mmseg configs (``default_scope='mmseg'``, e.g.
    ``EncoderDecoder``) and mmpretrain configs (``default_scope=
    'mmpretrain'``, e.g. ``ImageClassifier``).  As mmseg's ``init_model``
    it drops the ``init_cfg`` of the backbone (a pre-training checkpoint is
    not needed to build), loads ``checkpoint`` and keeps the config on the
    model (``model.cfg``) and the checkpoint's ``dataset_meta`` (class
    names) on ``model.dataset_meta``.

    Args:
        config (str | Path | Config): config file or object.
        checkpoint (str, optional): weights, read with ``weights_only``
            and checked against the model (a one-line
            :class:`~mmcast.engine.CheckpointError` when they do not fit).
            Without one the model keeps its (CAST) random initialisation
            and a warning says so.
        device (str): e.g. ``'cpu'`` (default) or ``'cuda:0'``.
        cfg_options (dict, optional): overrides merged into the config.

    Returns:
        nn.Module: the model in eval mode, on ``device``.
    """
    if isinstance(config, (str, Path)):
        config = Config.fromfile(str(config))
    elif not isinstance(config, Config):
        raise TypeError('config must be a filename or a Config, got '
                        f'{type(config)}')
    else:
        config = copy.deepcopy(config)  # never edit the caller's config
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if config.get('custom_imports'):
        import_modules_from_strings(**config.custom_imports)
    import mmcast  # noqa: F401  (registers CAST whatever the config says)
    scope = config.get('default_scope', 'mmseg')
    init_default_scope(scope)

    model_cfg = config.model
    model_cfg.pop('pretrained', None)
    model_cfg.train_cfg = None
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None
    model = _registry('MODELS', scope).build(model_cfg)
    model.dataset_meta = None
    if checkpoint is None:
        warnings.warn(RANDOM_WEIGHTS, UserWarning, stacklevel=2)
        # mmengine logs every parameter's initialiser at INFO: keep quiet.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    else:
        ckpt = load_model_checkpoint(model, checkpoint)
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
        elif meta.get('CLASSES'):
            model.dataset_meta = dict(classes=meta['CLASSES'])
    model.cfg = config
    model.to(device)
    model.eval()
    return model


# ----------------------------------------------------------------------
# Input preparation
def load_image(img: Union[str, Path, np.ndarray],
               channel_order: str = 'bgr') -> np.ndarray:
    """Any image as a ``(H, W, 3)`` uint8 BGR array.

    Args:
        img (str | Path | np.ndarray): a file (any format OpenCV reads,
            including 16-bit, grayscale and RGBA PNGs) or an array ``(H,
            W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` (uint8,
            uint16, or float in ``[0, 1]`` or ``[0, 255]``).
        channel_order (str): of an array: ``'bgr'`` (OpenCV/mmcv, default)
            or ``'rgb'`` (PIL, scikit-image, matplotlib).  Files are read
            as BGR.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8, BGR.
    """
    import mmcv
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got "
                         f'{channel_order!r}')
    if isinstance(img, (str, Path)):
        array = mmcv.imread(str(img), flag='unchanged', backend='cv2')
        if array is None:
            raise ValueError(f'could not read an image from {img}')
        channel_order = 'bgr'
    elif isinstance(img, np.ndarray):
        array = img
    else:
        raise TypeError(f'img must be a path or an array, got {type(img)}')
    if array.size == 0:
        raise ValueError(f'empty image of shape {array.shape}')
    if array.dtype == np.uint16:
        array = (array.astype(np.float32) / 257.).round()
    elif array.dtype.kind == 'f' and float(np.nanmax(array)) <= 1.:
        array = array * 255.
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array), 0, 255).round()
    array = to_three_channels(array.astype(np.uint8))
    if channel_order == 'rgb':
        array = array[..., ::-1]
    return np.ascontiguousarray(array)


def _test_pipeline(cfg: Optional[Config]) -> list:
    """The test pipeline of a config (``test_pipeline`` or the test
    dataloader's), empty when there is none."""
    if cfg is None:
        return []
    if cfg.get('test_pipeline') is not None:
        return list(cfg.test_pipeline)
    try:
        return list(cfg.test_dataloader.dataset.pipeline)
    except (AttributeError, KeyError, TypeError):
        return []


def build_preprocessing(cfg: Optional[Config]):
    """The resizes and the ``Superpixels`` transform of a test pipeline.

    Args:
        cfg (Config, optional): the model's config.

    Returns:
        tuple[list, Superpixels]: built resize transforms (in pipeline
        order) and the superpixel transform (the pipeline's settings, or
        the defaults when the pipeline has none).
    """
    scope = cfg.get('default_scope', 'mmseg') if cfg is not None \
        else 'mmseg'
    registry = _registry('TRANSFORMS', scope)
    resizes, superpixels = [], None
    with DefaultScope.overwrite_default_scope(scope):
        for t in _test_pipeline(cfg):
            name = str(t.get('type', '')).split('.')[-1]
            if name in RESIZE_TRANSFORMS:
                resizes.append(registry.build(dict(t)))
            elif name == 'Superpixels':
                superpixels = registry.build(dict(t))
    if superpixels is None:
        superpixels = Superpixels()
    return resizes, superpixels


def prepare_inputs(model: nn.Module, img_bgr: np.ndarray):
    """Resize as the test pipeline does, compute superpixels, normalise.

    Args:
        model (nn.Module): a model from :func:`init_model` (its ``cfg`` and
            ``data_preprocessor`` are read).
        img_bgr (np.ndarray): ``(H, W, 3)`` uint8 BGR.

    Returns:
        tuple[Tensor, Tensor]: normalised image ``(1, 3, h, w)`` and
        superpixels ``(1, h, w)`` int64 on the model's device.
    """
    resizes, sp_transform = build_preprocessing(getattr(model, 'cfg', None))
    results = dict(img=img_bgr, img_shape=img_bgr.shape[:2],
                   ori_shape=img_bgr.shape[:2])
    for t in resizes:
        results = t(results)
    img = to_three_channels(results['img'])
    sp = sp_transform(dict(img=img.copy()))['superpixels']

    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(img)).to(device)
    x = x.permute(2, 0, 1)[None].float()
    pre = getattr(model, 'data_preprocessor', None)
    # mmseg calls the flag channel_conversion, mmpretrain to_rgb; either
    # way the BGR input is flipped.
    if any(getattr(pre, flag, False) for flag in
           ('channel_conversion', '_channel_conversion', 'to_rgb')):
        x = x.flip(1)
    if getattr(pre, '_enable_normalize', False):
        x = (x - pre.mean.view(1, -1, 1, 1)) / pre.std.view(1, -1, 1, 1)
    return x, torch.from_numpy(sp).long().to(device)[None]


# ----------------------------------------------------------------------
# Hierarchy
def _check_clusters(num_clusters, num_stages: int) -> Optional[List[int]]:
    if num_clusters is None:
        return None
    num_clusters = [int(k) for k in num_clusters]
    if len(num_clusters) != num_stages or min(num_clusters) < 1:
        raise ValueError(f'num_clusters needs {num_stages} positive counts '
                         f'(one per stage), got {num_clusters}')
    return num_clusters


def _nearest_index(src: int, dst: int) -> np.ndarray:
    """Source index of every destination sample (nearest, as PyTorch)."""
    return np.minimum(np.arange(dst) * src // dst, src - 1)


def _is_classifier(model: nn.Module) -> bool:
    return getattr(model, 'head', None) is not None and \
        not hasattr(model, 'decode_head')


def _class_scores(model: nn.Module, cls_feat: torch.Tensor) -> np.ndarray:
    """Scores of the class token through the classifier's neck and head."""
    feats = (cls_feat, )
    if getattr(model, 'with_neck', False):
        feats = model.neck(feats)
    logits = model.head(feats)
    from mmpretrain.models.heads import MultiLabelClsHead
    if isinstance(model.head, MultiLabelClsHead):
        scores = logits.sigmoid()
    else:
        scores = logits.softmax(-1)
    return scores[0].double().cpu().numpy()


def _num_levels(model: nn.Module) -> int:
    """Levels above the units of a hierarchy model or a CAST model."""
    counts = getattr(model, 'num_clusters', None)
    if counts:
        return len(counts)
    return model.backbone.num_stages


def inference_hierarchy(model: nn.Module,
                        img: Union[str, Path, np.ndarray],
                        num_clusters: Optional[Sequence[int]] = None,
                        return_soft: bool = False,
                        channel_order: str = 'bgr') -> HierarchyResult:
    """The part-whole hierarchy of one image, in one forward pass.

    The image is resized as the model's test pipeline resizes (its
    ``Resize``/``ResizeEdge`` steps; crops are skipped so that every pixel
    gets a label), superpixels are computed with the pipeline's
    ``Superpixels`` settings (defaults when it has none), the image is
    normalised with the data preprocessor's mean/std and colour order.

    Models: an mmseg segmentor or an mmpretrain classifier whose backbone is
    CAST (its hierarchy: the chained ``argmax`` of every GraphPool's
    assignment, CAST.md section 4), or a hierarchy model
    (:class:`~mmcast.models.segmentors.HierarchySegmentor`,
    :class:`~mmcast.models.segmentors.ViTKMeansHierarchy`), whose own
    ``extract_hierarchy`` is used.  Levels are painted through the units
    (superpixels) and brought back to the original resolution by nearest
    sampling, the same sampling for every level, so nesting survives.

    Args:
        model (nn.Module): from :func:`init_model`.
        img (str | Path | np.ndarray): image file, or array ``(H, W)``,
            ``(H, W, 3)`` or ``(H, W, 4)`` of any size.
        num_clusters (Sequence[int], optional): clusters per level for this
            call (one count per level); the config's by default.
        return_soft (bool): also return the soft maps ``S_l = S_{l-1} P_l``
            per superpixel (CAST only).
        channel_order (str): of an array image: ``'bgr'`` or ``'rgb'``.

    Returns:
        HierarchyResult: ``levels`` (``L + 1`` maps ``(H, W)``), soft maps,
        and for classifiers ``scores`` from the same pass.
    """
    from mmcast.models.segmentors import cast_hierarchy
    extract = getattr(model, 'extract_hierarchy', None)
    backbone = getattr(model, 'backbone', None)
    if extract is None and (backbone is None or not hasattr(
            backbone, 'out_type') or not hasattr(backbone, 'num_stages')):
        raise TypeError('inference_hierarchy needs a model whose backbone '
                        'is CAST, or a hierarchy model, got '
                        f'{type(model).__name__} with '
                        f'{type(backbone).__name__}')
    num_clusters = _check_clusters(num_clusters, _num_levels(model))
    img_bgr = load_image(img, channel_order)
    H, W = img_bgr.shape[:2]
    x, sp = prepare_inputs(model, img_bgr)

    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if extract is not None:
                inputs = torch.cat([x, sp[:, None].to(x.dtype)], dim=1)
                res = extract(inputs, num_clusters, return_soft)[0]
            else:
                res = cast_hierarchy(backbone, x, sp, num_clusters,
                                     return_soft=return_soft)[0]
            scores = _class_scores(model, res['cls_feat'][None]) \
                if _is_classifier(model) else None
    finally:
        model.train(training)

    per_unit = [lab.cpu().numpy() for lab in res['unit_levels']]
    sp_map = res['superpixels'].cpu().numpy()
    h, w = sp_map.shape
    full = sp_map[_nearest_index(h, H)][:, _nearest_index(w, W)]
    levels = [lab[full].astype(np.int32) for lab in per_unit]
    soft = [s.cpu().numpy().astype(np.float32) for s in res['soft']] \
        if return_soft else None

    meta = getattr(model, 'dataset_meta', None) or {}
    classes = meta.get('classes')
    return HierarchyResult(
        levels=levels,
        superpixels=sp_map.astype(np.int32),
        ori_shape=(H, W),
        input_shape=(h, w),
        num_clusters=[int(k) for k in res['level_sizes'][1:]],
        superpixel_labels=per_unit,
        borrowed=res['borrowed'].cpu().numpy(),
        soft=soft,
        scores=scores,
        pred_label=None if scores is None else int(np.argmax(scores)),
        classes=tuple(classes) if classes is not None else None)
