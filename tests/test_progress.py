# Copyright (c) mmcast contributors. All rights reserved.
"""Progress bars on the long steps: data generation and evaluation."""
import io
from types import SimpleNamespace

from mmcast.engine import ProgressBarHook


def test_evaluation_bar_counts_the_batches():
    out = io.StringIO()
    hook = ProgressBarHook(enabled=True, file=out)
    runner = SimpleNamespace(test_loop=SimpleNamespace(dataloader=[0] * 3),
                             val_loop=SimpleNamespace(dataloader=[0] * 2))
    hook.before_test_epoch(runner)
    for i in range(3):
        hook.after_test_iter(runner, i)
    hook.after_test_epoch(runner)
    text = out.getvalue()
    assert text.startswith('evaluating 3 batches\n')
    assert '1/3' in text and '3/3' in text and text.endswith('\n')
    # off by default when the output is not a terminal (a log file)
    quiet = io.StringIO()
    hook = ProgressBarHook(file=quiet)
    hook.before_val_epoch(runner)
    hook.after_val_iter(runner, 0)
    hook.after_val_epoch(runner)
    assert quiet.getvalue() == ''


def test_toy_scene_generation_shows_progress(tmp_path, capsys):
    from mmcast.datasets import generate_toy_scenes
    generate_toy_scenes(str(tmp_path / 'toy'), 3, 2, 32, progress=True)
    out = capsys.readouterr().out
    assert 'generating 5 toy scenes' in out and '5/5' in out
    # a finished dataset is not generated again: no bar
    generate_toy_scenes(str(tmp_path / 'toy'), 3, 2, 32, progress=True)
    assert capsys.readouterr().out == ''
