# Copyright (c) mmcast contributors. All rights reserved.
"""Progress bars on the long steps: data generation and evaluation."""
import io
from types import SimpleNamespace

from mmcast.engine import ProgressBarHook


def test_evaluation_bar_counts_the_batches():
    out = io.StringIO()  # not a terminal: the bar's final state, once
    hook = ProgressBarHook(enabled=True, file=out)
    runner = SimpleNamespace(test_loop=SimpleNamespace(dataloader=[0] * 3),
                             val_loop=SimpleNamespace(dataloader=[0] * 2),
                             iter=0, max_iters=0)
    hook.before_test_epoch(runner)
    for i in range(3):
        hook.after_test_iter(runner, i)
    hook.after_test_epoch(runner)
    words = out.getvalue().split()
    assert words[0] == 'test' and words[2:4] == ['3/3', 'batches']
    assert out.getvalue().count('\n') == 1
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
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f'generating 5 toy scenes in {tmp_path / "toy"}'
    assert lines[1].split()[0] == 'data'
    assert lines[1].split()[2:4] == ['5/5', 'images']
    # a finished dataset is not generated again: no bar
    generate_toy_scenes(str(tmp_path / 'toy'), 3, 2, 32, progress=True)
    assert capsys.readouterr().out == ''
