# Copyright (c) mmcast contributors. All rights reserved.
"""Side-by-side timing for the benchmark tools: the photos they run on,
interleaved repetitions in one process, medians, and the conditions they
ran under."""
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform``'s."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1/5/15-minute load averages, or ``'n/a'``."""
    try:
        return '/'.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return 'n/a'


def conditions(**settings) -> str:
    """One line: torch version, CPU, cores, threads, load, and ``settings``
    (e.g. ``batch=8``)."""
    extra = ', '.join(f'{k} {v}' for k, v in settings.items())
    return (f'conditions: torch {torch.__version__}, CPU {cpu_name()} '
            f'({os.cpu_count()} cores), {torch.get_num_threads()} torch '
            f'threads, load average {load_average()}'
            + (f', {extra}' if extra else ''))


def photos(n: int,
           size: Union[int, Tuple[int, int]] = 512,
           sources: Sequence[str] = ('astronaut', 'coffee', 'chelsea',
                                     'rocket'),
           interpolation: str = 'linear',
           channel_order: str = 'bgr') -> List:
    """``n`` real photos of scikit-image for a benchmark (real edges, so
    SEEDS works as on a dataset), cycling through ``sources``.

    Args:
        n (int): how many.
        size (int | tuple): side of a square, or ``(h, w)``.
        sources (Sequence[str]): names of ``skimage.data`` photos, in the
            order they are cycled.
        interpolation (str): ``'linear'`` or ``'area'`` (OpenCV's resize).
        channel_order (str): ``'bgr'`` (as mmcv loads images) or ``'rgb'``.

    Returns:
        list[np.ndarray]: ``n`` uint8 arrays of shape (h, w, 3).
    """
    import cv2
    from skimage import data
    h, w = (size, size) if isinstance(size, int) else size
    flags = dict(linear=cv2.INTER_LINEAR, area=cv2.INTER_AREA)[interpolation]
    srcs = [getattr(data, name)() for name in sources]
    if channel_order == 'bgr':
        srcs = [src[..., ::-1] for src in srcs]
    return [cv2.resize(srcs[i % len(srcs)], (w, h), interpolation=flags)
            for i in range(n)]


def interleaved_times(runs: Dict[str, Callable[[], object]],
                      reps: int,
                      warmup: int = 1,
                      after: Optional[Callable[[str, float], None]] = None
                      ) -> Dict[str, List[float]]:
    """Time every callable ``reps`` times in turn (a, b, a, b, ...).

    Args:
        runs (dict): name -> callable with no arguments.
        reps (int): timed repetitions of each.
        warmup (int): untimed rounds first.
        after (callable, optional): called as ``after(name, seconds)``
            after every timed call (e.g. to read hooks' timers).

    Returns:
        dict: name -> the ``reps`` wall times in seconds.
    """
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times = {name: [] for name in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
            if after is not None:
                after(name, times[name][-1])
    return times


def medians(times: Dict[str, List[float]]) -> Dict[str, float]:
    """Median of each entry of :func:`interleaved_times`."""
    return {name: statistics.median(ts) for name, ts in times.items()}
