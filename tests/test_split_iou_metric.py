# Copyright (c) mmcast contributors. All rights reserved.
"""SplitIoUMetric: mmseg's mIoU plus base / novel mIoU, hand-computed."""
import pytest
import torch

from mmcast.evaluation import SplitIoUMetric


def run(metric, classes, pred, gt):
    metric.dataset_meta = dict(classes=classes)
    metric.process([], [dict(
        pred_sem_seg=dict(data=torch.tensor(pred)[None]),
        gt_sem_seg=dict(data=torch.tensor(gt)[None]))])
    return metric.compute_metrics(metric.results)


GT = [[0, 0, 1, 1], [2, 2, 3, 255]]
PRED = [[0, 1, 1, 1], [2, 3, 3, 0]]
# IoU: class 0: 1/2 (the pixel under 255 is ignored); class 1: 2/3;
# class 2: 1/2; class 3: 1/2.


def test_split_miou_hand_case():
    out = run(SplitIoUMetric(novel_classes=['c', 'd']), ('a', 'b', 'c', 'd'),
              PRED, GT)
    assert out['mIoU'] == pytest.approx(round((0.5 + 2 / 3 + 1) / 4 * 100,
                                              2))
    assert out['mIoU_base'] == pytest.approx(round((0.5 + 2 / 3) / 2 * 100,
                                                   2))
    assert out['mIoU_novel'] == 50.0
    same = run(SplitIoUMetric(base_classes=['a', 'b'], per_class=True),
               ('a', 'b', 'c', 'd'), PRED, GT)
    assert {k: same[k] for k in out} == out
    assert [same[f'IoU.{c}'] for c in 'abcd'] == [50., 66.67, 50., 50.]


def test_classes_without_pixels_are_left_out():
    # Class 'e' has neither ground truth nor prediction: NaN, left out.
    out = run(SplitIoUMetric(novel_classes=['d', 'e']),
              ('a', 'b', 'c', 'd', 'e'), PRED, GT)
    assert out['mIoU_novel'] == 50.0
    assert out['mIoU_base'] == pytest.approx(round((1 + 2 / 3) / 3 * 100,
                                                   2))


def test_bad_class_lists():
    with pytest.raises(ValueError, match='exactly one'):
        SplitIoUMetric(novel_classes=['a'], base_classes=['b'])
    with pytest.raises(ValueError, match='exactly one'):
        SplitIoUMetric()
    with pytest.raises(ValueError, match='not in the dataset'):
        run(SplitIoUMetric(novel_classes=['zebra']), ('a', 'b', 'c', 'd'),
            PRED, GT)
