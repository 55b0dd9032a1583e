# Copyright (c) mmcast contributors. All rights reserved.
"""One-image test sets and configs for comparing the inference API with
``tools/test.py``."""
import os
import os.path as osp
import pickle

import cv2
import numpy as np

from tests.pretrain_utils import run_tool

# What a test run needs of mmseg's / mmpretrain's default_runtime (which
# cannot be a second base beside a config that sets default_scope).
RUNTIME = '''
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
log_level = 'INFO'
load_from = None
resume = False
'''

SEG_TEST = RUNTIME + '''
_base_ = {bases}
default_scope = 'mmseg'
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
test_pipeline = {pipeline}
test_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='BaseSegDataset', data_root='{root}',
        data_prefix=dict(img_path='img', seg_map_path='ann'),
        img_suffix='.png', seg_map_suffix='.png',
        metainfo=dict(classes={classes}), pipeline=test_pipeline))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='TestLoop')
'''

CLS_TEST = RUNTIME + '''
_base_ = ['{base}']
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
test_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{root}',
                 pipeline={{{{_base_.test_pipeline}}}}))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
'''


def write_image(path, img_bgr):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, img_bgr)
    return path


def seg_test_config(path, base, root, num_classes, pipeline):
    """A config that tests the model of ``base`` (None: no model) on the
    images of ``root/img`` (labels in ``root/ann``)."""
    classes = tuple(f'c{i}' for i in range(num_classes))
    bases = [base] if base else []
    with open(path, 'w') as f:
        f.write(SEG_TEST.format(bases=bases, root=root, classes=classes,
                                pipeline=pipeline))
    return path


def cls_test_config(path, base, root):
    """A config that tests the classifier of ``base`` (using its
    ``test_pipeline``) on the class folders under ``root``."""
    with open(path, 'w') as f:
        f.write(CLS_TEST.format(base=base, root=root))
    return path


def segmentation_labels(path, shape, num_classes, seed=0):
    """Random ground truth (any will do: predictions are compared)."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, num_classes, shape).astype(np.uint8)
    return write_image(path, lab)


def tool_test_predictions(config, checkpoint, out_dir):
    """Run ``tools/test.py`` and return its dumped data samples (dicts)."""
    out = osp.join(out_dir, 'preds.pkl')
    run_tool('test', [config, checkpoint, '--work-dir', out_dir,
                      '--out', out])
    with open(out, 'rb') as f:
        return pickle.load(f)
