# Copyright (c) mmcast contributors. All rights reserved.
"""The benchmark commands of docs/benchmarks.md run (at toy size: one
repetition, small images) and report what the document quotes."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    res = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


@pytest.mark.slow
def test_backbone_benchmark_runs():
    out = run(['tools/analysis_tools/benchmark_backbone.py', '--batch', '1',
               '--reps', '1', '--threads', '1'])
    assert 'cast_s/vit_s time ratio:' in out.splitlines()[-1]


@pytest.mark.slow
def test_segmentor_benchmark_reports_memory_and_time(tmp_path):
    out_json = tmp_path / 'figures.json'
    out = run(['tools/analysis_tools/benchmark_segmentor.py', '--reps', '1',
               '--images', '1', '--threads', '1', '--whole-size', '128',
               '256', '--json', str(out_json)])
    assert 'cast_s/vit_s segmentor time ratio:' in out
    assert 'whole-image peak memory ratio:' in out
    figures = json.loads(out_json.read_text())
    assert figures['slide']['ratio'] > 0
    whole = figures['whole']
    assert whole['cast']['size'] == [128, 256]
    assert whole['vit']['tokens'] == 8 * 16
    for model in ('cast', 'vit'):
        assert whole[model]['peak_mb'] >= whole[model]['before_mb'] > 0
        assert whole[model]['time_s'] > 0
