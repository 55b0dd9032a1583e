# Copyright (c) mmcast contributors. All rights reserved.
"""Show a long compilation's progress from its own output; keep that output
in a log file.

``tools/setup_env.sh`` pipes mmcv's verbose build (``pip wheel -v``, whose
ninja prints ``[N/M] c++ ...`` as each of the M files is compiled) through
this filter::

    pip wheel -v ... 2>&1 | python tools/misc/build_progress.py \
        --log setup.log --name mmcv

Every line goes to the log; the screen gets one progress line, redrawn in
place on a terminal (``compiled 34/77 files, 6 min 40 s, about 8 min
left``), or printed at every tenth of the files otherwise (CI logs), then a
line when the compiler is done and linking begins.  On a terminal the
line also ticks every second between files, so a slow file never looks
like a hung build.  Only the standard library is used: it runs with the
bare interpreter of a fresh venv.
"""
import argparse
import re
import sys
import threading
import time

# ninja's status prefix, as pip -v shows it (indented by two spaces).
NINJA_STATUS = re.compile(r'^\s*\[(\d+)/(\d+)\]\s')
# setuptools' line just before ninja starts: the time left is estimated from
# the compilation alone, not from the preparation before it.
BUILD_START = re.compile(r"^\s*building '[\w.]+' extension")


def format_duration(seconds: float) -> str:
    """``75`` -> ``'1 min 15 s'``, ``9`` -> ``'9 s'``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds} s'
    return f'{seconds // 60} min {seconds % 60:02d} s'


class BuildProgress:
    """Follow ninja's ``[N/M]`` lines and draw the progress.

    Args:
        out: where the progress goes (a text stream).
        name (str): what is being built, shown in front of the progress.
        tty (bool): redraw one line in place (a terminal) instead of
            printing a line at every tenth of the files.
        prefix (str): printed at the start of every progress line.
        clock: a function returning seconds (``time.monotonic``).

    The time left is estimated when a file is done, from the third file on
    (the first ones carry one-off costs, such as a precompiled header), and
    counts down between files.
    """

    #: files done before the time left is estimated
    MIN_FILES_FOR_ESTIMATE = 3

    def __init__(self, out, name, tty, prefix='', clock=time.monotonic):
        self.out = out
        self.name = name
        self.tty = tty
        self.prefix = prefix
        self.clock = clock
        self.start = clock()
        self.compile_start = self.start
        self.done = 0
        self.total = 0
        self._estimate = None  # (seconds left, clock when estimated)
        self._next_report = 0  # files compiled at which to print (no tty)
        self._open_line = False
        self._finished = False
        self._lock = threading.Lock()

    def message(self) -> str:
        elapsed = self.clock() - self.start
        if not self.total:
            return (f'{self.prefix}{self.name}: preparing the build, '
                    f'{format_duration(elapsed)}')
        text = (f'{self.prefix}{self.name}: compiled {self.done}/'
                f'{self.total} files, {format_duration(elapsed)}')
        if self._estimate is not None and self.done < self.total:
            left, at = self._estimate
            left -= self.clock() - at
            if left >= 1:
                text += f', about {format_duration(left)} left'
        return text

    def _estimate_time_left(self) -> None:
        if self.done >= self.MIN_FILES_FOR_ESTIMATE:
            now = self.clock()
            rate = (now - self.compile_start) / self.done
            self._estimate = (rate * (self.total - self.done), now)

    def feed(self, line: str) -> None:
        """Take one line of the build's output."""
        match = NINJA_STATUS.match(line)
        if match is None:
            if BUILD_START.match(line):
                self.compile_start = self.clock()
            return
        with self._lock:
            self.done, self.total = int(match.group(1)), int(match.group(2))
            self._estimate_time_left()
            if self.tty:
                self._redraw()
            elif self.done >= self._next_report:
                self.out.write(self.message() + '\n')
                self._next_report = self.done + max(1, self.total // 10)
            if self.done == self.total and not self._finished:
                self._finished = True
                self._end_line()
                self.out.write(
                    f'{self.prefix}{self.name}: all {self.total} files '
                    'compiled; linking and packing the wheel\n')
            self.out.flush()

    def tick(self) -> None:
        """Redraw the terminal line (elapsed time moves on)."""
        with self._lock:
            if self.tty and not self._finished:
                self._redraw()
                self.out.flush()

    def _redraw(self) -> None:
        self.out.write('\r' + self.message() + '\033[K')
        self._open_line = True

    def _end_line(self) -> None:
        if self._open_line:
            self.out.write('\n')
            self._open_line = False

    def close(self) -> None:
        """End the progress line (the build may have stopped early)."""
        with self._lock:
            self._finished = True
            self._end_line()
            self.out.flush()


def follow(lines, log, progress, tick_seconds=1.0) -> None:
    """Copy ``lines`` to the ``log`` file object, feeding ``progress``;
    on a terminal, redraw it every ``tick_seconds`` meanwhile."""
    stop = threading.Event()

    def ticker():
        while not stop.wait(tick_seconds):
            progress.tick()

    thread = threading.Thread(target=ticker, daemon=True)
    if progress.tty:
        thread.start()
    try:
        for line in lines:
            log.write(line)
            log.flush()
            progress.feed(line)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        progress.close()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--log', required=True,
                        help='file the build output is appended to')
    parser.add_argument('--name', default='build',
                        help='what is built, shown in the progress line')
    parser.add_argument('--prefix', default='',
                        help='printed before every progress line')
    return parser.parse_args()


def main():
    args = parse_args()
    stdin = open(sys.stdin.fileno(), encoding='utf-8', errors='replace',
                 closefd=False)
    progress = BuildProgress(sys.stdout, args.name, sys.stdout.isatty(),
                             args.prefix)
    with open(args.log, 'a', encoding='utf-8') as log:
        follow(stdin, log, progress)


if __name__ == '__main__':
    main()
