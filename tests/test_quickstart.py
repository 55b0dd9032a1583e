# Copyright (c) mmcast contributors. All rights reserved.
"""tools/quickstart.py reads like a result: progress bars and the figures
on the screen, mmengine's log and the libraries' warnings in the log file."""
import logging
import os.path as osp
import re
import subprocess
import sys
import warnings

import pytest

from tests.conftest import ROOT, load_tool


class Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))


def test_quiet_console_routes_warnings_and_prints_to_the_log(capsys):
    """Third-party warnings are held until the logger exists, then logged;
    mmcast's own warnings go to the warning display in place before."""
    quickstart = load_tool('tools/quickstart.py')
    logger = logging.getLogger('test_quiet_console')
    logger.setLevel(logging.INFO)
    handler = Records()
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings():  # restores showwarning afterwards
            warnings.simplefilter('always')
            shown = []
            warnings.showwarning = lambda message, *args: shown.append(
                str(message))
            quiet = quickstart.QuietConsole()
            lib = '/venv/lib/python3.11/site-packages/lib/api.py'
            warnings.warn_explicit('old API', UserWarning, lib, 3)
            warnings.warn_explicit('bad input', UserWarning,
                                   osp.join(ROOT, 'mmcast', 'x.py'), 7)
            with quiet.building():
                print('environment dump')  # mmengine's screen handler
            assert handler.records == []  # held until the logger exists
            quiet.attach(logger)
            with quiet.running():
                print('a stray', end=' ')
                print('print\n')
            warnings.warn_explicit('older API', FutureWarning, lib, 5)
    finally:
        logger.removeHandler(handler)
    assert handler.records == [
        ('WARNING', f'{lib}:3: UserWarning: old API'),
        ('INFO', 'a stray print'),
        ('WARNING', f'{lib}:5: FutureWarning: older API')]
    assert shown == ['bad input']
    screen = capsys.readouterr()
    assert screen.out == screen.err == ''


@pytest.mark.slow
def test_quickstart_screen_is_short_and_ends_with_the_result(tmp_path):
    work_dir = tmp_path / 'work'
    out = subprocess.run(
        [sys.executable, 'tools/quickstart.py', '--iters', '60',
         '--work-dir', str(work_dir), '--data-root', str(tmp_path / 'data')],
        cwd=ROOT, capture_output=True, text=True, check=True)
    lines = (out.stdout + out.stderr).splitlines()
    assert len(lines) <= 30, '\n'.join(lines)
    assert not any('Warning' in line for line in lines), '\n'.join(lines)
    for phase in ('data', 'training', 'test'):
        assert any(line.split()[:1] == [phase] for line in lines), phase
    miou, chance = map(float, re.fullmatch(
        r'quickstart: mIoU ([\d.]+) on .* \(uniformly random labels would '
        r'score ([\d.]+)\)', lines[-3]).groups())
    assert miou > 3 * chance  # 60 iterations learn the easy classes
    for line, name in zip(lines[-2:], ('prediction.png', 'hierarchy.png')):
        assert line == f'quickstart: saved {work_dir / name}'
        assert osp.getsize(work_dir / name) > 0
    # The full log: mmengine's environment dump, the per-class table and
    # the warnings that stayed off the screen.
    log_file = next(line.split(' in ', 1)[1] for line in lines
                    if line.startswith('quickstart: full log in '))
    with open(log_file) as f:
        log = f.read()
    assert 'System environment' in log and 'per class results' in log
    assert 'UserWarning' in log
