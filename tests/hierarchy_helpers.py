# Copyright (c) mmcast contributors. All rights reserved.
"""Shared pieces of the hierarchy tests (configs, checks, checkpoints)."""
import os.path as osp
import warnings

import numpy as np
import torch

from tests.conftest import ROOT

SEG_CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_cast_seg.py')
CLS_CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_cast_cls.py')


def nesting_violations(levels):
    """Segments of level l whose pixels carry several labels at level l+1.

    Independent of how the levels were made: for every level l, group the
    pixels by their level-l label and count the distinct level-(l+1) labels
    in each group.

    Returns:
        list[tuple[int, int]]: ``(level, segment)`` of every violation.
    """
    bad = []
    for lv, (fine, coarse) in enumerate(zip(levels[:-1], levels[1:])):
        assert fine.shape == coarse.shape
        for seg in np.unique(fine):
            if len(np.unique(coarse[fine == seg])) != 1:
                bad.append((lv, int(seg)))
    return bad


def quiet_init_model(config, checkpoint=None, cfg_options=None):
    from mmcast.apis import init_model
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return init_model(config, checkpoint, cfg_options=cfg_options)


def save_tiny_checkpoint(path, config, classes=None, favour=None):
    """Save the weights of a randomly initialised tiny model.

    Args:
        path (str): where to write.
        config (str): the config of the model.
        classes (Sequence[str], optional): stored as ``dataset_meta``.
        favour (int, optional): for a classifier, a class whose head bias
            is set high, so that a run with this checkpoint must rank it
            first (proof that the weights were loaded).

    Returns:
        nn.Module: the model whose weights were saved.
    """
    torch.manual_seed(1)
    model = quiet_init_model(config)
    if favour is not None:
        with torch.no_grad():
            model.head.fc.bias.zero_()
            model.head.fc.bias[favour] = 10.
    meta = {}
    if classes is not None:
        meta['dataset_meta'] = dict(classes=tuple(classes))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return model
