# Copyright (c) mmcast contributors. All rights reserved.
"""Measure where OpenCV's SEEDS and SLIC crash or hang, and whether
mmcast's guard (``seeds_top_grid`` / ``slic_fits``) predicts it.

    python tools/analysis_tools/superpixel_crash_probe.py
        [--random 500] [--seed 1] [--timeout 3] [--out probe.json]
        [--no-grid] [--algorithms seeds slic slico mslic]

Every case (image shape, superpixel count or SLIC region size, SEEDS
levels) runs OpenCV directly, on a random image, in a forked child process:
a segfault kills only the child and is recorded with its signal; a child
still running after ``--timeout`` seconds is killed and recorded as a hang
(large images get ten times longer).  Cases come from a grid (tiny shapes
1..12 px, thin/tall strips, regular sizes) and from ``--random`` log-uniform
draws.  The table counts, per algorithm, what happened where mmcast lets
OpenCV run and where it falls back to a grid.  Linux only (fork).
"""
import argparse
import json
import os
import signal
import sys
import time
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--random', type=int, default=500,
                        help='random cases per algorithm')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--timeout', type=float, default=3.)
    parser.add_argument('--no-grid', action='store_true',
                        help='random cases only')
    parser.add_argument('--algorithms', nargs='+',
                        default=['seeds', 'slico', 'slic'],
                        choices=['seeds', 'slico', 'slic', 'mslic'])
    parser.add_argument('--out', help='write every case and outcome here')
    return parser.parse_args()


def run_opencv(algorithm, H, W, n, levels, double_step):
    """OpenCV itself, unguarded; returns the number of superpixels."""
    import cv2
    img = np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2Lab)
    if algorithm == 'seeds':
        sp = cv2.ximgproc.createSuperpixelSEEDS(W, H, 3, n, levels, 2, 5,
                                                double_step)
        sp.iterate(lab, 15)
    else:
        region = max(1, int(round((H * W / n)**0.5)))
        sp = cv2.ximgproc.createSuperpixelSLIC(
            lab, getattr(cv2.ximgproc, algorithm.upper()), region, 10.)
        sp.iterate(10)
    return len(np.unique(sp.getLabels()))


def in_child(case, timeout):
    """'ok', 'SIGSEGV' (or another signal) or 'hang'."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report, exit without cleanup
        os.close(read)
        try:
            run_opencv(*case)
            os.write(write, b'ok')
        except Exception as e:  # a Python error: as good as no crash
            os.write(write, f'error {type(e).__name__}'.encode())
        os._exit(0)
    os.close(write)
    start = time.time()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return 'hang'
        time.sleep(0.002)
    message = os.read(read, 64).decode()
    os.close(read)
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return message or 'exit'


def grid_cases(algorithm):
    """Tiny, thin/tall and regular shapes with a few counts."""
    tiny = [(h, w, n) for h in range(1, 13) for w in range(1, 13)
            for n in (1, 10, 196)]
    strips = [(s, l, n) for s in (1, 2, 3, 4, 5, 8, 12, 16, 20, 32)
              for l in (64, 100, 224, 500, 1000, 3000)
              for n in (1, 4, 10, 16, 49, 196, 1024)]
    strips += [(l, s, n) for s, l, n in strips]
    sizes = (16, 24, 32, 48, 64, 100, 128, 224, 500, 1000)
    regular = [(h, w, n) for h in sizes for w in sizes
               for n in (1, 10, 49, 196, 1024)]
    return [(algorithm, h, w, n, 1, False) for h, w, n in
            tiny + strips + regular]


def random_cases(algorithm, count, rng):
    cases = []
    while len(cases) < count:
        H, W = np.exp(rng.uniform(0, np.log(2500), 2)).astype(int)
        if H * W > 2.5e6:
            continue
        n = int(np.exp(rng.uniform(0, np.log(4096))))
        levels = int(rng.integers(1, 5)) if algorithm == 'seeds' else 1
        cases.append((algorithm, int(H), int(W), n, levels,
                      bool(rng.integers(0, 2))))
    return cases


def guarded(algorithm, H, W, n, levels, double_step):
    """Whether mmcast lets OpenCV run this case."""
    from mmcast.datasets.transforms.superpixel import (seeds_top_grid,
                                                       slic_fits)
    if algorithm == 'seeds':
        return seeds_top_grid(H, W, n, levels) is not None
    if algorithm == 'mslic':
        return False  # mmcast does not offer it
    return slic_fits(H, W, max(1, int(round((H * W / n)**0.5))))


def main():
    args = parse_args()
    import cv2  # noqa: F401  (loaded once, before forking)
    rng = np.random.default_rng(args.seed)
    records, table = [], Counter()
    for algorithm in args.algorithms:
        cases = [] if args.no_grid else grid_cases(algorithm)
        cases += random_cases(algorithm, args.random, rng)
        for case in cases:
            runs = guarded(*case)
            limit = args.timeout * (10 if case[1] * case[2] > 1e5 else 1)
            outcome = in_child(case, limit)
            kind = 'ok' if outcome == 'ok' else outcome
            table[(algorithm, runs, kind)] += 1
            records.append(dict(case=case, mmcast_runs_opencv=runs,
                                outcome=outcome))
    print('| algorithm | mmcast | cases | ok | Python error | crashed '
          '(signal) | hung |')
    print('|---|---|---|---|---|---|---|')
    for algorithm in args.algorithms:
        for runs in (True, False):
            rows = Counter()
            for (alg, r, kind), v in table.items():
                if (alg, r) == (algorithm, runs):
                    rows[kind.split()[0] if kind.startswith('error')
                         else 'signal' if kind.startswith('SIG') else
                         kind] += v
            print(f"| {algorithm} | {'runs OpenCV' if runs else 'grid'} | "
                  f"{sum(rows.values())} | {rows['ok']} | {rows['error']} | "
                  f"{rows['signal']} | {rows['hang']} |")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(records, f)


if __name__ == '__main__':
    main()
