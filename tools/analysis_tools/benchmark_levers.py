# Copyright (c) mmcast contributors. All rights reserved.
"""What each speed lever of CAST-S's forward gains, measured in one process.

    git archive af702b9 | tar -x -C /tmp/cast_before   # the tree before
    .venv/bin/python tools/analysis_tools/benchmark_levers.py \\
        --baseline-src /tmp/cast_before [--batch 8] [--reps 7] [--threads 2]

CAST-S (as in ``benchmark_backbone.py``: batch 8 at 224, SEEDS, eval, no
grad) is timed in interleaved repetitions in these variants:

- ``before``: every lever off (farthest point sampling and segment means
  from ``--baseline-src``, the stem unfolded with its 1x1 convolution on
  every cell);
- ``after``: the current code;
- ``after - <lever>``: the current code with one lever off.

A lever's gain is ``median(after - lever) - median(after)``.  The levers:
``fps`` (farthest point sampling on a Gram matrix: 4 small ops a step),
``segment_mean`` (one scatter along the pixels of the ``(B, C, H*W)``
layout), ``stem_fold`` (batch norm folded into the stem convolutions,
channels-last), ``proj_after_pool`` (the stem's 1x1 convolution on the
segment means).  Skipping the last GraphPool when only the class token is
returned is timed apart: the time of that pooling on its inputs.
"""
import argparse
import importlib.util
import os.path as osp
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402
from mmcast.utils.timing import (conditions, interleaved_times,  # noqa: E402
                                 medians)

LEVERS = ('fps', 'segment_mean', 'stem_fold', 'proj_after_pool')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--baseline-src', required=True,
                        help='a source tree of mmcast before the levers')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--reps', type=int, default=7)
    parser.add_argument('--threads', type=int, default=2)
    add_cli_flags(parser)
    return parser.parse_args()


def load_file(path, name):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found (--baseline-src)')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Levers:
    """Switch the levers on and off by swapping the functions they live
    in for the baseline's."""

    def __init__(self, baseline_src):
        import mmcast.models.backbones.cast as cast_module
        import mmcast.models.necks.graph_pool as graph_pool
        from mmcast.models.utils.stem import ConvStem
        utils = osp.join(baseline_src, 'mmcast', 'models', 'utils')
        old_fps = load_file(osp.join(utils, 'fps.py'), 'baseline_fps')
        old_ops = load_file(osp.join(utils, 'superpixel_ops.py'),
                            'baseline_superpixel_ops')

        class NotAConvStem:  # isinstance(stem, ConvStem) fails
            pass

        self.slots = {
            'fps': (graph_pool, 'farthest_point_sampling',
                    old_fps.farthest_point_sampling),
            'segment_mean': (cast_module, 'segment_mean',
                             old_ops.segment_mean),
            'stem_fold': (ConvStem, '_folded_layers', lambda self: None),
            'proj_after_pool': (cast_module, 'ConvStem', NotAConvStem),
        }
        self.current = {k: getattr(obj, attr)
                        for k, (obj, attr, _) in self.slots.items()}

    def set(self, off=()):
        for key, (obj, attr, old) in self.slots.items():
            setattr(obj, attr, old if key in off else self.current[key])


def main():
    args = parse_args()
    quiet_logs(args.verbose)
    torch.set_num_threads(args.threads)
    import mmcast  # noqa: F401
    from mmcast.models import CAST
    bench = load_file(osp.join(ROOT, 'tools', 'analysis_tools',
                               'benchmark_backbone.py'), 'bench_backbone')
    torch.manual_seed(0)
    cast = CAST(arch='small', img_size=args.size, pos_embed='learned',
                token_pooling='stem', freeze_last_pool=True)
    cast.init_weights()
    cast.eval()
    img, sp = bench.photo_batch(args.batch, args.size)
    levers = Levers(args.baseline_src)

    def variant(off):
        def run():
            levers.set(off)
            out = cast(img, sp)
            levers.set()
            return out
        return run

    runs = {'before': variant(LEVERS), 'after': variant(())}
    runs.update({f'after - {k}': variant((k, )) for k in LEVERS})
    # The last GraphPool, which a class-token forward now skips.
    with torch.no_grad():
        cast.out_type = 'raw'
        last = cast(img, sp)['stages'][-1]
        cast.out_type = 'cls_token'
    pool = cast.stages[-1].pool
    runs['last GraphPool alone'] = lambda: pool(
        last['tokens'], last['block_cls'], last['mask'],
        cast.num_clusters[-1])
    with torch.no_grad():
        ref = runs['before']()[0]
        err = max((runs[k]()[0] - ref).abs().max().item() for k in runs
                  if k.startswith('after'))
        times = interleaved_times(runs, args.reps, warmup=1)
    med = medians(times)
    print(conditions(batch=args.batch, size=f'{args.size}x{args.size}',
                     mode='eval, no grad', reps=f'{args.reps} interleaved'))
    for key, value in med.items():
        print(f'{key:22s} median {value * 1e3:8.1f} ms')
    for k in LEVERS:
        gain = med[f'after - {k}'] - med['after']
        print(f'lever {k:16s} gains {gain * 1e3:7.1f} ms '
              f'({100 * gain / med["before"]:.1f}% of before)')
    print(f'lever skip_last_pool     gains '
          f'{med["last GraphPool alone"] * 1e3:7.1f} ms (its time)')
    print(f'largest class-feature difference of any variant from before: '
          f'{err:.1e}')
    print(f'after/before time ratio: {med["after"] / med["before"]:.3f}')


if __name__ == '__main__':
    run_cli(main)
