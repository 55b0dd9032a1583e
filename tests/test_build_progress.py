# Copyright (c) mmcast contributors. All rights reserved.
"""tools/misc/build_progress.py: the progress line setup_env.sh draws while
mmcv compiles, from ninja's own ``[N/M]`` lines as ``pip wheel -v`` shows
them."""
import io
import subprocess
import sys

from tests.conftest import ROOT, load_tool

# The shape of the real build's output (pip -v indents the backend's lines
# by two spaces; ninja prints "[finished/total] command" as each file is
# done, the compiler's warnings follow it).
BUILD_OUTPUT = [
    'Processing /tmp/tmp.x/mmcv-2.1.0\n',
    '  Building wheel for mmcv (pyproject.toml): started\n',
    '  running build_ext\n',
    "  building 'mmcv._ext' extension\n",
] + [
    f'  [{i}/40] c++ -MMD -MF {i}.o.d -c src{i}.cpp -o {i}.o -std=c++20\n'
    for i in range(1, 41)
] + [
    '  In file included from src40.cpp:1:\n',
    '  c++ -shared a.o b.o -o _ext.so\n',
    '  Created wheel for mmcv: filename=mmcv-2.1.0-cp311-linux_x86_64.whl\n',
]


class Clock:
    """A clock the test moves."""

    def __init__(self):
        self.now = 0.

    def __call__(self):
        return self.now


def six_seconds_per_file(lines, clock):
    """Yield ``lines``, each file taking six seconds to compile."""
    for line in lines:
        if '] c++ -MMD' in line:
            clock.now += 6.
        yield line


def run(tty, lines=BUILD_OUTPUT):
    tool = load_tool('tools/misc/build_progress.py')
    out, log = io.StringIO(), io.StringIO()
    clock = Clock()
    progress = tool.BuildProgress(out, 'mmcv', tty, prefix='[s] ',
                                  clock=clock)
    tool.follow(six_seconds_per_file(lines, clock), log, progress,
                tick_seconds=3600)
    return out.getvalue(), log.getvalue()


def test_log_keeps_every_line():
    _, log = run(tty=False)
    assert log == ''.join(BUILD_OUTPUT)


def test_without_terminal_a_line_per_tenth_then_linking():
    out, _ = run(tty=False)
    lines = out.splitlines()
    # Every fourth file of 40, then the final line.
    assert [line.split(',')[0] for line in lines[:-1]] == [
        f'[s] mmcv: compiled {n}/40 files' for n in range(1, 41, 4)]
    assert lines[-1] == ('[s] mmcv: all 40 files compiled; linking and '
                         'packing the wheel')
    # At "[9/40]" 54 s have passed for 9 files: 31 files are left at 6 s
    # each.
    assert lines[2] == ('[s] mmcv: compiled 9/40 files, 54 s, about '
                        '3 min 06 s left')


def test_on_a_terminal_the_line_is_redrawn_in_place():
    out, _ = run(tty=True)
    frames = out.split('\r')[1:]
    assert len(frames) == 40
    # No estimate before the third file, then 6 s for each file left.
    assert frames[0] == '[s] mmcv: compiled 1/40 files, 6 s\033[K'
    assert frames[2] == ('[s] mmcv: compiled 3/40 files, 18 s, about '
                         '3 min 42 s left\033[K')
    assert frames[-1] == ('[s] mmcv: compiled 40/40 files, 4 min 00 s'
                          '\033[K\n[s] mmcv: all 40 files compiled; linking '
                          'and packing the wheel\n')


def test_before_the_first_file_it_says_it_is_preparing():
    tool = load_tool('tools/misc/build_progress.py')
    out = io.StringIO()
    clock = Clock()
    progress = tool.BuildProgress(out, 'mmcv', True, clock=clock)
    clock.now = 6.
    progress.tick()
    progress.close()
    assert out.getvalue() == '\rmmcv: preparing the build, 6 s\033[K\n'


def test_time_left_counts_from_the_start_of_the_compilation():
    """The preparation before ninja starts (pip, metadata) is shown in the
    elapsed time but does not slow down the estimate."""
    tool = load_tool('tools/misc/build_progress.py')
    out = io.StringIO()
    clock = Clock()
    progress = tool.BuildProgress(out, 'mmcv', False, clock=clock)
    clock.now = 60.  # a minute of preparation
    tool.follow(six_seconds_per_file(BUILD_OUTPUT[:8], clock), io.StringIO(),
                progress)
    # 4 files in 24 s of compilation: 36 left at 6 s each.
    assert out.getvalue() == ('mmcv: compiled 1/40 files, 1 min 06 s\n')
    assert progress.message() == ('mmcv: compiled 4/40 files, 1 min 24 s, '
                                  'about 3 min 36 s left')


def test_time_left_counts_down_between_files():
    tool = load_tool('tools/misc/build_progress.py')
    out = io.StringIO()
    clock = Clock()
    progress = tool.BuildProgress(out, 'mmcv', True, clock=clock)
    for line in six_seconds_per_file(BUILD_OUTPUT[:7], clock):
        progress.feed(line)  # 3 files done at 18 s: 37 x 6 s = 222 s left
    clock.now += 10.
    progress.tick()
    assert out.getvalue().split('\r')[-1] == (
        'mmcv: compiled 3/40 files, 28 s, about 3 min 32 s left\033[K')


def test_a_build_that_stops_early_ends_the_line():
    out, _ = run(tty=True, lines=BUILD_OUTPUT[:10])
    assert out.endswith('compiled 6/40 files, 36 s, about 3 min 24 s '
                        'left\033[K\n')
    assert 'linking' not in out


def test_command_line_appends_to_the_log(tmp_path):
    log = tmp_path / 'setup.log'
    log.write_text('earlier steps\n')
    done = subprocess.run(
        [sys.executable, 'tools/misc/build_progress.py', '--log', str(log),
         '--name', 'mmcv'], input=''.join(BUILD_OUTPUT), cwd=ROOT,
        capture_output=True, text=True, check=True)
    assert log.read_text() == 'earlier steps\n' + ''.join(BUILD_OUTPUT)
    assert done.stdout.splitlines()[0].startswith(
        'mmcv: compiled 1/40 files, 0 s')
    assert done.stdout.splitlines()[-1] == (
        'mmcv: all 40 files compiled; linking and packing the wheel')
