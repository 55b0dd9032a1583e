# Copyright (c) mmcast contributors. All rights reserved.
"""CAST-S against mmpretrain's ViT-S (deit-small) at 224 px on this CPU.

    .venv/bin/python tools/analysis_tools/benchmark_backbone.py
        [--batch 8] [--reps 10] [--threads N]

Forward passes (eval, no grad) are timed in interleaved repetitions
(CAST, ViT, CAST, ViT, ...) after a warm-up; the medians and their ratio
are reported, with the share of CAST's time spent in GraphPool (farthest
point sampling plus pooling), and the GFLOPs of both from mmengine's
complexity analysis.  CAST gets SEEDS superpixels (196 per image, the
release's classification settings) of real photos, computed before timing.
The last line reads ``cast_s/vit_s time ratio: R``.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--reps', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None)
    add_cli_flags(parser)
    return parser.parse_args()


def photo_batch(batch, size):
    """Real photos (scikit-image) resized to ``size``, their SEEDS maps."""
    import cv2
    from skimage import data

    from mmcast.datasets.transforms import compute_superpixels
    from mmcast.datasets.transforms.superpixel import SEEDS_PRESETS
    photos = [data.astronaut(), data.chelsea(), data.coffee(),
              data.rocket(), data.immunohistochemistry()]
    imgs, sps = [], []
    for i in range(batch):
        img = cv2.resize(photos[i % len(photos)], (size, size),
                         interpolation=cv2.INTER_AREA)
        imgs.append(img)
        sps.append(compute_superpixels(
            img, size * size // 256, seeds_cfg=SEEDS_PRESETS[
                'classification'], channel_order='rgb'))
    mean = np.array([123.675, 116.28, 103.53])
    std = np.array([58.395, 57.12, 57.375])
    x = torch.from_numpy((np.stack(imgs) - mean) / std).float()
    return x.permute(0, 3, 1, 2).contiguous(), torch.from_numpy(
        np.stack(sps)).long()


def sdpa_flops(inputs, outputs):
    """Multiply-adds of ``scaled_dot_product_attention``: ``QK^T`` and
    ``AV``, ``2 * B * heads * N * M * d`` (mmengine has no handle for it, so
    both models' attention matrices would otherwise go uncounted)."""
    from mmengine.analysis.jit_handles import get_shape
    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    return 2 * int(np.prod(q[:-1])) * k[-2] * q[-1]


def gflops(model, inputs):
    """GFLOPs (multiply-adds, fvcore's convention) of one forward."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(
        **{'aten::scaled_dot_product_attention': sdpa_flops})
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total() / 1e9


class PoolTimer:
    """Wall time inside the GraphPool modules of a CAST model, split into
    farthest point sampling, the refinement attention, the fc1/fc2 layers
    and the rest (assignment logits, softmax, weighted means)."""

    parts = ('fps', 'refine', 'fc1', 'fc2')

    def __init__(self, model):
        import mmcast.models.necks.graph_pool as gp
        self.times = dict.fromkeys(('pool', ) + self.parts, 0.)
        self._start = {}
        for stage in model.stages:
            self._hook(stage.pool, 'pool')
            for part in ('refine', 'fc1', 'fc2'):
                self._hook(getattr(stage.pool, part), part)
        fps = gp.farthest_point_sampling

        def timed_fps(*args, **kwargs):
            t = time.perf_counter()
            out = fps(*args, **kwargs)
            self.times['fps'] += time.perf_counter() - t
            return out

        gp.farthest_point_sampling = timed_fps

    def _hook(self, module, name):
        module.register_forward_pre_hook(
            lambda *a: self._start.__setitem__(name, time.perf_counter()))
        module.register_forward_hook(lambda *a: self.times.__setitem__(
            name, self.times[name] + time.perf_counter() - self._start[name]))

    def reset(self):
        self.times = dict.fromkeys(self.times, 0.)


def main():
    args = parse_args()
    quiet_logs(args.verbose)
    if args.threads:
        torch.set_num_threads(args.threads)
    import mmcast  # noqa: F401
    from mmpretrain.models import VisionTransformer

    from mmcast.models import CAST
    torch.manual_seed(0)
    cast = CAST(arch='small', img_size=args.size, pos_embed='learned',
                token_pooling='stem', freeze_last_pool=True).eval()
    vit = VisionTransformer(arch='deit-small', img_size=args.size,
                            patch_size=16)
    vit.eval()  # mmpretrain's train() returns None: no chaining
    img, sp = photo_batch(args.batch, args.size)
    pool_timer = PoolTimer(cast)
    runs = {'cast': lambda: cast(img, sp), 'vit': lambda: vit(img)}
    times = {k: [] for k in runs}
    shares = {k: [] for k in ('pool', ) + PoolTimer.parts + ('rest', )}
    with torch.no_grad():
        for fn in runs.values():  # warm-up
            fn()
            fn()
        for _ in range(args.reps):
            for name, fn in runs.items():
                pool_timer.reset()
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
                if name == 'cast':
                    pt = pool_timer.times
                    pt['rest'] = pt['pool'] - sum(pt[k]
                                                  for k in PoolTimer.parts)
                    for k in shares:
                        shares[k].append(pt[k] / times[name][-1])
    med = {k: statistics.median(v) for k, v in times.items()}
    with torch.no_grad():
        flops_cast = gflops(cast, (img[:1], sp[:1]))
        flops_vit = gflops(vit, (img[:1], ))
    n_sp = float(np.mean([len(torch.unique(s)) for s in sp]))
    print(f'input: batch {args.batch}, {args.size}x{args.size}, '
          f'{torch.get_num_threads()} threads, {n_sp:.0f} superpixels/image')
    print(f'CAST-S forward: median {med["cast"] * 1e3:.1f} ms '
          f'({args.reps} reps, min {min(times["cast"]) * 1e3:.1f})')
    print(f'ViT-S  forward: median {med["vit"] * 1e3:.1f} ms '
          f'({args.reps} reps, min {min(times["vit"]) * 1e3:.1f})')
    share = {k: 100 * statistics.median(v) for k, v in shares.items()}
    print(f"CAST-S GraphPool share of its forward: {share['pool']:.1f}% = "
          f"FPS {share['fps']:.1f}% + refinement attention "
          f"{share['refine']:.1f}% + fc1 {share['fc1']:.1f}% + fc2 "
          f"{share['fc2']:.1f}% + assignment and pooled means "
          f"{share['rest']:.1f}%")
    print(f"CAST-S FPS plus pooling (sampling, assignment, weighted means): "
          f"{share['fps'] + share['rest']:.1f}%")
    print(f'GFLOPs per image: CAST-S {flops_cast:.2f}, ViT-S '
          f'{flops_vit:.2f} (paper: 3.4 and 4.7)')
    print(f'cast_s/vit_s time ratio: {med["cast"] / med["vit"]:.3f}')


if __name__ == '__main__':
    run_cli(main)
