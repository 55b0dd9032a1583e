# Copyright (c) mmcast contributors. All rights reserved.
"""CAST-S against mmpretrain's ViT-S (deit-small), and optionally the
authors' release CAST-S, at 224 px on this CPU.

    .venv/bin/python tools/analysis_tools/benchmark_backbone.py
        [--batch 8] [--size 224] [--reps 10] [--threads 2]
        [--release-src ../shared/reference/cast_release]

Forward passes (eval, no grad) are timed in one process, interleaved
(CAST, ViT, release, CAST, ViT, release, ...) after a warm-up; the medians
and their ratios are reported with the conditions (torch version, CPU,
threads, load average).  Every model gets the same photos; the CAST models
get the same SEEDS superpixels (196 per image, the release's classification
settings), computed before timing.

With ``--release-src DIR`` (the release's ``cast_models/`` files, e.g.
``../shared/reference/cast_release``) the release's ``cast_small`` is built
with timm 0.4.12 (importable ``timm``: ``pip install --no-deps --target
/tmp/timm0412 timm==0.4.12`` and ``--timm-path /tmp/timm0412``) and mmcast's
CAST-S loads its weights through ``tools/model_converters/cast2mmcast.py``,
so both compute the same function (their largest output difference is
printed).  dgl, which the release samples with, cannot be installed beside
this torch: its ``farthest_point_sampler`` is replaced by a stand-in with
dgl's semantics built on mmcast's own sampler, so both models pay the same
for farthest point sampling and the ratio measures everything else.

Also printed: GFLOPs per image (mmengine's ``FlopAnalyzer``, multiply-adds)
and the share of CAST-S's time spent in farthest point sampling and
pooling.  The last lines read ``cast_s/vit_s time ratio: R`` and, with the
release, ``cast_s/release time ratio: R``.
"""
import argparse
import importlib
import os.path as osp
import statistics
import sys
import tempfile
import time
import types

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402
from mmcast.utils.timing import (conditions, interleaved_times,  # noqa: E402
                                 medians, photos)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--reps', type=int, default=10)
    parser.add_argument('--threads', type=int, default=2,
                        help='torch threads (the issue-14 protocol: 2)')
    parser.add_argument('--release-src', default=None,
                        help="directory of the release's cast_models files")
    parser.add_argument('--timm-path', default=None,
                        help='directory holding timm 0.4.12 (pip --target)')
    add_cli_flags(parser)
    return parser.parse_args()


def photo_batch(batch, size):
    """Real photos (scikit-image) resized to ``size``, their SEEDS maps."""
    from mmcast.datasets.transforms import compute_superpixels
    from mmcast.datasets.transforms.superpixel import SEEDS_PRESETS
    imgs = photos(batch, size, sources=('astronaut', 'chelsea', 'coffee',
                                        'rocket', 'immunohistochemistry'),
                  interpolation='area', channel_order='rgb')
    sps = []
    for img in imgs:
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
    """Wall time of CAST's token pooling: the superpixel means of the stem
    features (``segment_mean``), and inside the GraphPool modules farthest
    point sampling, the refinement attention, the fc1/fc2 layers and the
    rest (assignment logits, softmax, weighted means)."""

    parts = ('segment_mean', 'fps', 'refine', 'fc1', 'fc2')

    def __init__(self, model):
        import mmcast.models.backbones.cast as cast_module
        import mmcast.models.necks.graph_pool as gp
        self.times = dict.fromkeys(('pool', ) + self.parts, 0.)
        self._start = {}
        for stage in model.stages:
            self._hook(stage.pool, 'pool')
            for part in ('refine', 'fc1', 'fc2'):
                self._hook(getattr(stage.pool, part), part)
        gp.farthest_point_sampling = self._timed(
            gp.farthest_point_sampling, 'fps')
        cast_module.segment_mean = self._timed(cast_module.segment_mean,
                                               'segment_mean')

    def _timed(self, fn, name):

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self.times[name] += time.perf_counter() - start
            return out

        return timed

    def _hook(self, module, name):
        module.register_forward_pre_hook(
            lambda *a: self._start.__setitem__(name, time.perf_counter()))
        module.register_forward_hook(lambda *a: self.times.__setitem__(
            name, self.times[name] + time.perf_counter() - self._start[name]))

    def reset(self):
        self.times = dict.fromkeys(self.times, 0.)


def dgl_stand_in():
    """A ``dgl.geometry`` module whose ``farthest_point_sampler`` has dgl's
    semantics (float64 squared distances, start at ``start_idx``, first
    maximum wins, a point may repeat) on mmcast's vectorised distances."""
    from mmcast.models.utils.fps import _pairwise_rows

    @torch.no_grad()
    def farthest_point_sampler(pos, npoints, start_idx=0):
        B = pos.shape[0]
        distances_to = _pairwise_rows(pos.to(torch.float64))
        idx = torch.full((B, ), start_idx, dtype=torch.long,
                         device=pos.device)
        picked, dist = [idx], distances_to(idx)
        for _ in range(npoints - 1):
            idx = dist.argmax(1)
            picked.append(idx)
            dist = torch.minimum(dist, distances_to(idx))
        return torch.stack(picked, 1)

    dgl = types.ModuleType('dgl')
    dgl.geometry = types.ModuleType('dgl.geometry')
    dgl.geometry.farthest_point_sampler = farthest_point_sampler
    return dgl


def build_release(src, timm_path):
    """The release's CAST-S (``cast_deit.cast_small``, no head)."""
    if not osp.isfile(osp.join(src, 'cast_deit.py')):
        raise FileNotFoundError(f'--release-src {src}: no cast_deit.py there')
    if timm_path:
        sys.path.insert(0, timm_path)
    try:
        import timm
    except ImportError:
        timm = None
    if timm is None or timm.__version__ != '0.4.12':
        raise ImportError(
            'the release needs timm 0.4.12: pip install --no-deps --target '
            '/tmp/timm0412 timm==0.4.12, then --timm-path /tmp/timm0412')
    package = types.ModuleType('cast_models')
    package.__path__ = [osp.abspath(src)]
    sys.modules['cast_models'] = package
    dgl = dgl_stand_in()
    sys.modules.update({'dgl': dgl, 'dgl.geometry': dgl.geometry})
    release = importlib.import_module('cast_models.cast_deit')
    return release.cast_small(num_classes=0).eval()


def load_release_weights(cast, release):
    """Give mmcast's CAST-S the release model's weights (via the converter
    tool, as a user would)."""
    spec = importlib.util.spec_from_file_location(
        'cast2mmcast', osp.join(ROOT, 'tools', 'model_converters',
                                'cast2mmcast.py'))
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = osp.join(tmp, 'release.pth'), osp.join(tmp, 'ours.pth')
        torch.save({'model': release.state_dict()}, src)
        converted = converter.convert(src, dst)
    cast.load_state_dict(converted['state_dict'])


def main():
    args = parse_args()
    quiet_logs(args.verbose)
    torch.set_num_threads(args.threads)
    import mmcast  # noqa: F401
    from mmpretrain.models import VisionTransformer

    from mmcast.models import CAST
    torch.manual_seed(0)
    cast = CAST(arch='small', img_size=args.size, pos_embed='learned',
                token_pooling='stem', freeze_last_pool=True)
    cast.init_weights()
    cast.eval()
    vit = VisionTransformer(arch='deit-small', img_size=args.size,
                            patch_size=16)
    vit.init_weights()
    vit.eval()  # mmpretrain's train() returns None: no chaining
    img, sp = photo_batch(args.batch, args.size)
    runs = {'cast': lambda: cast(img, sp), 'vit': lambda: vit(img)}
    release = None
    if args.release_src:
        release = build_release(args.release_src, args.timm_path)
        load_release_weights(cast, release)
        runs['release'] = lambda: release.forward_features(img, sp)
        with torch.no_grad():
            diff = (cast(img, sp)[0] - runs['release']()).abs().amax(1)
            padded = cast.embed(img, sp)['mask'].any(1)

    pool_timer = PoolTimer(cast)
    shares = {k: [] for k in ('pool', ) + PoolTimer.parts}

    def record(name, seconds):
        if name == 'cast':
            for k in shares:
                shares[k].append(pool_timer.times[k] / seconds)
        pool_timer.reset()

    with torch.no_grad():
        times = interleaved_times(runs, args.reps, warmup=2, after=record)
    med = medians(times)
    with torch.no_grad():
        flops = dict(cast=gflops(cast, (img[:1], sp[:1])),
                     vit=gflops(vit, (img[:1], )))
        if release is not None:
            try:
                flops['release'] = gflops(release, (img[:1], sp[:1]))
            except Exception:  # jit tracing of the release may fail
                flops['release'] = float('nan')
    n_sp = float(np.mean([len(torch.unique(s)) for s in sp]))
    print(conditions(batch=args.batch, size=f'{args.size}x{args.size}',
                     mode='eval, no grad',
                     superpixels=f'{n_sp:.0f}/image (SEEDS)',
                     reps=f'{args.reps} interleaved'))
    names = dict(cast='mmcast CAST-S', vit='mmpretrain ViT-S',
                 release='release CAST-S')
    for key, ts in times.items():
        print(f'{names[key]:16s} forward: median {med[key] * 1e3:7.1f} ms '
              f'(min {min(ts) * 1e3:.1f}, max {max(ts) * 1e3:.1f}); '
              f'{flops[key]:.2f} GFLOPs/image')
    if release is not None:
        same = diff[~padded].max().item() if (~padded).any() else 0.
        print(f'release vs mmcast class features (same weights and '
              f'superpixels): max abs difference {same:.1e} on the '
              f'{int((~padded).sum())} images without padded tokens; '
              f'{int(padded.sum())} images have a superpixel no stem cell '
              f'samples, which mmcast masks and the release averages as a '
              f'zero token (documented departure): up to '
              f'{diff.max().item():.1e}')
    share = {k: 100 * statistics.median(v) for k, v in shares.items()}
    rest = share['pool'] - share['fps'] - share['refine'] - share['fc1'] \
        - share['fc2']
    print(f"CAST-S share of its forward: superpixel means "
          f"{share['segment_mean']:.1f}%, GraphPool {share['pool']:.1f}% = "
          f"FPS {share['fps']:.1f}% + refinement attention "
          f"{share['refine']:.1f}% + fc1 {share['fc1']:.1f}% + fc2 "
          f"{share['fc2']:.1f}% + assignment and pooled means {rest:.1f}%")
    pooling = share['fps'] + share['segment_mean'] + rest
    print(f"CAST-S FPS plus pooling (sampling, superpixel and cluster "
          f"means, assignment): {pooling:.1f}%")
    print(f'GFLOPs per image (paper: CAST-S 3.4, ViT-S 4.7): CAST-S '
          f'{flops["cast"]:.2f}, ViT-S {flops["vit"]:.2f}')
    print(f'cast_s/vit_s time ratio: {med["cast"] / med["vit"]:.3f}')
    if release is not None:
        print(f'cast_s/release time ratio: '
              f'{med["cast"] / med["release"]:.3f}')


if __name__ == '__main__':
    run_cli(main)
