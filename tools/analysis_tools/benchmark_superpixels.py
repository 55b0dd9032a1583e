# Copyright (c) mmcast contributors. All rights reserved.
"""Time of the superpixel transform per image, on one core.

    .venv/bin/python tools/analysis_tools/benchmark_superpixels.py
        [--size 512] [--images 8] [--reps 5] [--preset segmentation]

Runs mmcast's ``Superpixels`` transform (SEEDS with the release's settings:
``segmentation`` = its ADE20K / Pascal-Context ones, 1024 superpixels at
512x512; ``classification`` = its ImageNet ones) on scikit-image photos
resized to ``--size``, with OpenCV and torch held to one thread, and prints
the median wall time and the median CPU time of this process per image.
On a shared machine the CPU time is the steadier figure (the wall time
also counts waiting for a core).  The last line reads ``SEEDS <size>:
median <t> ms wall, <c> ms CPU per image``.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--preset', default='segmentation',
                        choices=('segmentation', 'classification'))
    add_cli_flags(parser, verbose=False)
    return parser.parse_args()


def main():
    args = parse_args()
    quiet_logs()
    import cv2
    import torch

    from mmcast.datasets.transforms import Superpixels
    from mmcast.utils.timing import conditions, photos
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    transform = Superpixels(stride=16, preset=args.preset)
    imgs = photos(args.images, args.size,
                  sources=('astronaut', 'coffee', 'chelsea', 'rocket',
                           'immunohistochemistry', 'hubble_deep_field'))
    transform(dict(img=imgs[0].copy()))  # warm-up
    wall, cpu, counts = [], [], []
    for _ in range(args.reps):
        for img in imgs:
            results = dict(img=img.copy())
            t, c = time.perf_counter(), time.process_time()
            out = transform(results)['img']
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            counts.append(int(out[..., 3].max()) + 1)
    print(conditions(size=f'{args.size}x{args.size}', preset=args.preset,
                     opencv=f'{cv2.__version__}, 1 thread',
                     superpixels=f'{statistics.median(counts):.0f}/image',
                     images=f'{args.images} x {args.reps} reps'))
    print(f'SEEDS {args.size}: median {statistics.median(wall) * 1e3:.1f} '
          f'ms wall, {statistics.median(cpu) * 1e3:.1f} ms CPU per image')


if __name__ == '__main__':
    run_cli(main)
