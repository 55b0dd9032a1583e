# Copyright (c) mmcast contributors. All rights reserved.
"""Registration of mmcast components in MMSegmentation and MMPretrain.

mmcast has no registry of its own: a component is registered under the same
name in both downstream registries, so ``type='CAST'`` builds from a config
whose ``default_scope`` is ``mmseg`` or ``mmpretrain`` (and from a config
that lists ``custom_imports=dict(imports=['mmcast'])``).
"""
from mmengine.registry import VISUALIZERS as ENGINE_VISUALIZERS
from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
from mmpretrain.registry import METRICS as PRETRAIN_METRICS
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.registry import OPTIM_WRAPPERS as PRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
from mmpretrain.registry import VISUALIZERS as PRETRAIN_VISUALIZERS
from mmseg.registry import DATASETS as SEG_DATASETS
from mmseg.registry import HOOKS as SEG_HOOKS
from mmseg.registry import METRICS as SEG_METRICS
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.registry import OPTIM_WRAPPERS as SEG_OPTIM_WRAPPERS
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS
from mmseg.registry import VISUALIZERS as SEG_VISUALIZERS

__all__ = [
    'register_model', 'register_transform', 'register_visualizer',
    'register_seg_dataset', 'register_pretrain_dataset', 'register_metric',
    'register_optim_wrapper', 'register_hook', 'SEG_MODELS',
    'PRETRAIN_MODELS'
]


def _register_in(*registries):

    def decorator(cls):
        for registry in registries:
            registry.register_module(module=cls)
        return cls

    return decorator


#: Register a model component (backbone, neck, head, preprocessor...).
register_model = _register_in(SEG_MODELS, PRETRAIN_MODELS)
#: Register a data transform.
register_transform = _register_in(SEG_TRANSFORMS, PRETRAIN_TRANSFORMS)
#: Register a visualizer (also in mmengine's root registry, so a config of
#: any scope, or ``Visualizer``-agnostic code, can build it by name).
register_visualizer = _register_in(SEG_VISUALIZERS, PRETRAIN_VISUALIZERS,
                                   ENGINE_VISUALIZERS)
#: Register a segmentation dataset.
register_seg_dataset = _register_in(SEG_DATASETS)
#: Register a classification / self-supervised dataset (mmpretrain).
register_pretrain_dataset = _register_in(PRETRAIN_DATASETS)
#: Register an evaluation metric (usable from mmseg and mmpretrain configs).
register_metric = _register_in(SEG_METRICS, PRETRAIN_METRICS)
#: Register an optimizer wrapper.
register_optim_wrapper = _register_in(SEG_OPTIM_WRAPPERS,
                                      PRETRAIN_OPTIM_WRAPPERS)
#: Register a runner hook.
register_hook = _register_in(SEG_HOOKS, PRETRAIN_HOOKS)
