# Copyright (c) mmcast contributors. All rights reserved.
"""tools/analysis_tools/larvseg_toy.py end to end at a tiny size: three
models trained and tested through mmengine's Runner, the JSON written."""
import json

import pytest

from tests.conftest import load_tool


@pytest.mark.slow
def test_larvseg_toy_demo_writes_its_json(tmp_path):
    tool = load_tool('tools/analysis_tools/larvseg_toy.py')
    out = tmp_path / 'toy.json'
    result = tool.main([
        '--out', str(out), '--steps', '3', '--mask-images', '6',
        '--label-images', '6', '--val-images', '3', '--work-dir',
        str(tmp_path / 'wd'), '--cfg-options',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    saved = json.loads(out.read_text())
    assert saved == result
    assert set(saved) == {'larvseg', 'baseline', 'masks_only', 'seed',
                          'steps', 'seconds', 'targets'}
    assert set(saved['targets']) == {'novel_at_least_0.30',
                                     'novel_above_baseline',
                                     'base_within_0.05_of_masks_only'}
    for name in ('larvseg', 'baseline', 'masks_only'):
        scores = saved[name]
        assert all(0 <= scores[k] <= 1 for k in ('all', 'base', 'novel'))
        assert set(scores['per_class']) == {'sky', 'ground', 'disc', 'box',
                                            'triangle'}
        assert all(v is None or 0 <= v <= 1
                   for v in scores['per_class'].values())


def test_targets_hand_case():
    tool = load_tool('tools/analysis_tools/larvseg_toy.py')
    result = dict(larvseg=dict(novel=0.31, base=0.80),
                  baseline=dict(novel=0.35, base=0.81),
                  masks_only=dict(novel=0.0, base=0.84))
    assert tool.targets(result) == {
        'novel_at_least_0.30': True, 'novel_above_baseline': False,
        'base_within_0.05_of_masks_only': True}
    result['masks_only']['base'] = 0.86
    result['baseline']['novel'] = 0.30
    assert tool.targets(result) == {
        'novel_at_least_0.30': True, 'novel_above_baseline': True,
        'base_within_0.05_of_masks_only': False}
    # Not all three models: no verdict.
    del result['baseline']
    assert tool.targets(result) == {}
