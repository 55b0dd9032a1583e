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
                          'steps', 'seconds'}
    for name in ('larvseg', 'baseline', 'masks_only'):
        scores = saved[name]
        assert all(0 <= scores[k] <= 1 for k in ('all', 'base', 'novel'))
        assert set(scores['per_class']) == {'sky', 'ground', 'disc', 'box',
                                            'triangle'}
