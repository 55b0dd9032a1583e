# Copyright (c) mmcast contributors. All rights reserved.
"""ProgressBarHook on a real mmengine Runner: one bar per phase, the
training bar carrying the averaged loss, validation inside training."""
import io

import pytest
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader

from mmcast.engine import PhaseBar, ProgressBarHook


class LineFit(BaseModel):
    """y = w x + b, squared error."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return {'loss': ((out - labels)**2).mean()}
        if mode == 'predict':
            return [dict(pred=o, label=t) for o, t in zip(out, labels)]
        return out


class MeanError(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(
            float((s['pred'] - s['label']).abs()) for s in data_samples)

    def compute_metrics(self, results):
        return {'mae': sum(results) / len(results)}


def loader(n, batch_size):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    data = [dict(inputs=xi, labels=xi.sum()) for xi in x]
    return DataLoader(data, batch_size=batch_size)


@pytest.mark.parametrize('train', [True, False])
def test_one_bar_per_phase_with_validation_inside_training(tmp_path, train):
    """With ``train=False`` (tools/train.py, whose log shares the screen)
    only the evaluations get bars."""
    screen = io.StringIO()
    runner = Runner(
        model=LineFit(), work_dir=str(tmp_path),
        train_dataloader=loader(12, 2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=3),
        val_dataloader=loader(4, 2), val_cfg=dict(),
        val_evaluator=Evaluator(MeanError()),
        test_dataloader=loader(6, 2), test_cfg=dict(),
        test_evaluator=Evaluator(MeanError()),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[ProgressBarHook(enabled=True, file=screen,
                                      train=train)])
    runner.train()
    runner.test()
    loss = runner.message_hub.get_scalar('train/loss').mean(20)
    lines = [line.split() for line in screen.getvalue().splitlines()]
    # description, bar, done/total, unit, elapsed, '<', left[, info]
    bars = [('training', '3/6', 'it'), ('validation', '2/2', 'batches'),
            ('training', '6/6', 'it'), ('validation', '2/2', 'batches'),
            ('test', '3/3', 'batches')]
    if not train:
        bars = [bar for bar in bars if bar[0] != 'training']
    assert [(w[0], w[2], w[3]) for w in lines] == bars
    if train:
        assert lines[2][-2:] == ['loss', f'{loss:.3f}']


def test_phase_bar_learns_its_total_on_the_way():
    screen = io.StringIO()
    with PhaseBar('data', None, 'images',
                  Console(file=screen, width=100)) as bar:
        for done in range(1, 8):
            bar.update(done, total=7)
    words = screen.getvalue().split()
    assert words[0] == 'data' and words[2:4] == ['7/7', 'images']
