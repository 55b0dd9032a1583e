# Copyright (c) mmcast contributors. All rights reserved.
"""Build a CAST model from a config, predict an image as evaluation does,
and read its part-whole hierarchy.

In the manner of mmseg's ``init_model`` / ``inference_model``, for both
kinds of CAST models: mmseg segmentors (``EncoderDecoder`` with a CAST
backbone) and mmpretrain classifiers (``ImageClassifier`` with CAST).
Images go through the config's test pipeline, the model's data
preprocessor and ``test_step``, so a prediction here is the one
``tools/test.py`` scores.
"""
import copy
import logging
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.utils import import_modules_from_strings
from torch import nn

from mmcast.apis.hierarchy_result import HierarchyResult
from mmcast.datasets.transforms.superpixel import to_three_channels
from mmcast.engine.checkpoint import load_model_checkpoint

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


def _type_name(transform: dict) -> str:
    return str(transform.get('type', '')).split('.')[-1]


def _test_pipeline(cfg: Optional[Config]) -> list:
    """The test pipeline of a config (``test_pipeline`` or the test
    dataloader's); without one, load the image, compute superpixels with
    the defaults and pack."""
    if cfg is not None and cfg.get('test_pipeline') is not None:
        return [dict(t) for t in cfg.test_pipeline]
    try:
        return [dict(t) for t in cfg.test_dataloader.dataset.pipeline]
    except (AttributeError, KeyError, TypeError):
        pass
    scope = cfg.get('default_scope', 'mmseg') if cfg is not None \
        else 'mmseg'
    pack = 'PackInputs' if scope == 'mmpretrain' else 'PackSegInputs'
    return [dict(type='LoadImageFromFile'), dict(type='Superpixels'),
            dict(type=pack)]


def build_test_pipeline(cfg: Optional[Config], from_array: bool = False,
                        whole_image: bool = False):
    """The config's test pipeline, for one image given at inference.

    As mmseg's ``inference_model``: annotation loading (``LoadAnnotations``,
    ``LoadPartAnnotations``, any ``Load*Annotation*``) is left out; for an
    array the image-loading step is left out too (the array is the loaded
    image).  Every other transform runs as ``tools/test.py`` runs it.

    Args:
        cfg (Config, optional): the model's config.
        from_array (bool): the image comes as an array.
        whole_image (bool): also leave out crops (``CenterCrop``,
            ``RandomCrop``...), so that every pixel of the image reaches the
            network (what the hierarchy needs).

    Returns:
        tuple[Compose, bool]: the pipeline and whether a crop was left out.
    """
    from mmengine.dataset import Compose
    scope = cfg.get('default_scope', 'mmseg') if cfg is not None \
        else 'mmseg'
    registry = _registry('TRANSFORMS', scope)
    steps, cropped = [], False
    for t in _test_pipeline(cfg):
        name = _type_name(t)
        if (name.startswith('Load') and 'Annotation' in name) or \
                (from_array and name.startswith('LoadImage')):
            continue
        if whole_image and 'Crop' in name:
            cropped = True
            continue
        steps.append(t)
    with DefaultScope.overwrite_default_scope(scope):
        return Compose([registry.build(t) for t in steps]), cropped


def _image_input(img, channel_order: str) -> dict:
    """The pipeline's input for a file (its own loader reads it) or an
    array (already loaded, as :func:`load_image` normalises it)."""
    if isinstance(img, (str, Path)):
        return dict(img_path=str(img))
    array = load_image(img, channel_order)
    return dict(img=array, img_shape=array.shape[:2],
                ori_shape=array.shape[:2])


def _run_pipeline(model: nn.Module, img, channel_order: str,
                  whole_image: bool = False):
    cfg = getattr(model, 'cfg', None)
    pipeline, cropped = build_test_pipeline(
        cfg, from_array=not isinstance(img, (str, Path)),
        whole_image=whole_image)
    return pipeline(_image_input(img, channel_order)), cropped


def preprocess(model: nn.Module, img, channel_order: str = 'bgr',
               whole_image: bool = False):
    """One image as the model receives it in evaluation.

    Args:
        model (nn.Module): from :func:`init_model`.
        img (str | Path | np.ndarray): an image file or array.
        channel_order (str): of an array: ``'bgr'`` or ``'rgb'``.
        whole_image (bool): leave the pipeline's crops out.

    Returns:
        tuple[dict, bool]: the data preprocessor's output (``inputs`` ``(1,
        4, h, w)``: normalised image and superpixels; ``data_samples``) and
        whether a crop was left out.
    """
    from mmengine.dataset import pseudo_collate
    sample, cropped = _run_pipeline(model, img, channel_order, whole_image)
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([sample]), False)
    return data, cropped


def inference_model(model: nn.Module,
                    img: Union[str, Path, np.ndarray, Sequence],
                    channel_order: str = 'bgr'):
    """Predict one image (or a list) exactly as ``tools/test.py`` does.

    The image goes through the config's test pipeline (annotation loading
    left out, as in mmseg's ``inference_model``), the model's own data
    preprocessor and ``test_step``: the result is the data sample the
    evaluator would see.

    Args:
        model (nn.Module): from :func:`init_model`, an mmseg segmentor or
            an mmpretrain classifier.
        img (str | Path | np.ndarray | Sequence): an image file (read by
            the pipeline's loader), an array (see :func:`load_image`), or a
            list of them.
        channel_order (str): of array images: ``'bgr'`` or ``'rgb'``.

    Returns:
        ``SegDataSample`` (``pred_sem_seg``, ``seg_logits``) or
        mmpretrain's ``DataSample`` (``pred_score``, ``pred_label``), or a
        list of them for a list of images.
    """
    from mmengine.dataset import pseudo_collate
    imgs = list(img) if isinstance(img, (list, tuple)) else [img]
    data = pseudo_collate(
        [_run_pipeline(model, im, channel_order)[0] for im in imgs])
    with torch.no_grad():
        results = model.test_step(data)
    return results if isinstance(img, (list, tuple)) else results[0]


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


def _num_levels(model: nn.Module) -> int:
    """Levels above the units of a hierarchy model or a CAST model."""
    counts = getattr(model, 'num_clusters', None)
    if counts:
        return len(counts)
    return model.backbone.num_stages


def _class_scores(model: nn.Module, cls_feat: torch.Tensor,
                  data_samples: list) -> np.ndarray:
    """Scores of the class token through the classifier's neck and head,
    as its ``predict`` computes them (softmax, or sigmoid for multi-label
    heads)."""
    feats = (cls_feat, )
    if getattr(model, 'with_neck', False):
        feats = model.neck(feats)
    sample = model.head.predict(feats, data_samples)[0]
    return sample.pred_score.double().cpu().numpy()


def inference_hierarchy(model: nn.Module,
                        img: Union[str, Path, np.ndarray],
                        num_clusters: Optional[Sequence[int]] = None,
                        return_soft: bool = False,
                        channel_order: str = 'bgr') -> HierarchyResult:
    """The part-whole hierarchy of one image, in one forward pass.

    The image goes through the model's test pipeline as in
    :func:`inference_model` (so with the pipeline's resizes and
    ``Superpixels`` settings, and the model's own data preprocessor), with
    one difference: crops are left out, so that the hierarchy covers every
    pixel of the image.

    Models: an mmseg segmentor or an mmpretrain classifier whose backbone is
    CAST (its hierarchy: the chained ``argmax`` of every GraphPool's
    assignment, docs/cast.md, read by
    :func:`~mmcast.models.segmentors.cast_hierarchy`), or a hierarchy model
    (:class:`~mmcast.models.segmentors.HierarchySegmentor`,
    :class:`~mmcast.models.segmentors.ViTKMeansHierarchy`), whose own
    ``extract_hierarchy`` is used.  Levels are painted through the units
    (superpixels) and brought back to the original resolution by nearest
    sampling, the same sampling for every level, so nesting survives.

    Class scores of a classifier are what :func:`inference_model` and
    ``tools/test.py`` give: from the same forward pass when the test
    pipeline has no crop, else from a second pass on the cropped view
    (``CenterCrop`` of ImageNet pipelines), the one evaluation scores.

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
        and for classifiers ``scores``.
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
    classifier = _is_classifier(model)

    training = model.training
    model.eval()
    try:
        data, cropped = preprocess(model, img, channel_order,
                                   whole_image=True)
        with torch.no_grad():
            if extract is not None:
                res = extract(data['inputs'], num_clusters, return_soft)[0]
            else:
                res = cast_hierarchy(backbone, data['inputs'], None,
                                     num_clusters,
                                     return_soft=return_soft)[0]
            scores = _class_scores(model, res['cls_feat'][None],
                                   data['data_samples']) \
                if classifier and not cropped else None
    finally:
        model.train(training)
    if classifier and cropped:
        scores = inference_model(model, img, channel_order) \
            .pred_score.double().cpu().numpy()

    meta = data['data_samples'][0].metainfo
    H, W = meta['ori_shape'][:2]
    h, w = meta['img_shape'][:2]  # the image before any padding
    per_unit = [lab.cpu().numpy() for lab in res['unit_levels']]
    sp_map = res['superpixels'][:h, :w].cpu().numpy()
    full = sp_map[_nearest_index(h, H)][:, _nearest_index(w, W)]
    levels = [lab[full].astype(np.int32) for lab in per_unit]
    soft = [s.cpu().numpy().astype(np.float32) for s in res['soft']] \
        if return_soft else None

    dataset_meta = getattr(model, 'dataset_meta', None) or {}
    classes = dataset_meta.get('classes')
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
