# Copyright (c) mmcast contributors. All rights reserved.
"""CAST-S segmentor against mmseg's ViT-S Segmenter on this CPU: 512x512
slide inference at equal token count, the time of the superpixel transform
per 512x512 image, and the peak memory and time of whole-image inference on
one large image (1024x2048 by default).

    .venv/bin/python tools/analysis_tools/benchmark_segmentor.py
        [--reps 5] [--threads N] [--parts slide whole train]
        [--whole-size 1024 2048] [--rounds 2] [--json FILE]

CAST-S: ``configs/cast_s_ade20k.py`` with a linear decoder (1024 SEEDS
superpixels per 512x512 window); ViT-S: mmseg's
``segmenter/segmenter_vit-s_fcn_8xb1-160k_ade20k-512x512.py`` (linear
decoder, 32x32 = 1024 patch tokens).  Both run ``test_step`` (slide mode,
512 window, stride 512) on the same real photos, interleaved, after a
warm-up; superpixels are computed before timing.  The last line reads
``cast_s/vit_s segmentor time ratio: R``.

Whole image: each model runs in a fresh process (``test_step``, mode
``whole``, one image, SEEDS at stride 16: 8192 superpixels against ViT-S's
8192 patches at 1024x2048), so that the peak resident memory it reports
(``ru_maxrss``) is that model's alone; the increase over the memory held
before the first forward pass (weights, input) is reported beside it.  The
time is the median over ``--whole-reps`` runs after one warm-up run.

Training step (``--parts train``, not run by default): one ``train_step``
(forward, backward, SGD with momentum) of each segmentor at 512x512, batch
2, random labels of 150 classes; each model runs in processes of its own,
``--rounds`` per model, alternated, so that its peak resident memory
(``ru_maxrss``) minus the memory held once the model and batch are built
is its step's own; the time is the median of the ``--reps`` steps timed in
each process after a warm-up step.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402
from mmcast.utils.timing import (conditions, interleaved_times,  # noqa: E402
                                 photos)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--images', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--parts', nargs='+', default=['slide', 'whole'],
                        choices=['slide', 'whole', 'train'])
    parser.add_argument('--whole-size', type=int, nargs=2,
                        default=(1024, 2048), metavar=('H', 'W'))
    parser.add_argument('--whole-reps', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=2,
                        help='train: processes per model, alternated')
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument('--child', choices=['cast', 'vit'],
                        help=argparse.SUPPRESS)  # one whole-image run
    parser.add_argument('--train-child', choices=['cast', 'vit'],
                        help=argparse.SUPPRESS)  # one training-step run
    add_cli_flags(parser)
    return parser.parse_args()


def build(config, **model_overrides):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(config)
    for k, v in model_overrides.items():
        node = cfg.model
        keys = k.split('.')
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = v
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    return model


def samples(imgs, with_superpixels):
    from mmseg.structures import SegDataSample

    from mmcast.datasets.transforms import Superpixels
    batch = []
    sp_times = []
    transform = Superpixels(stride=16, preset='segmentation')
    for img in imgs:
        if with_superpixels:
            t = time.perf_counter()
            x = transform(dict(img=img.copy()))['img']
            sp_times.append(time.perf_counter() - t)
        else:
            x = img.astype(np.float32)
        tensor = torch.from_numpy(x).permute(2, 0, 1).contiguous()
        meta = dict(img_shape=img.shape[:2], ori_shape=img.shape[:2])
        batch.append(dict(inputs=[tensor],
                          data_samples=[SegDataSample(metainfo=meta)]))
    return batch, sp_times


def build_model(name, **overrides):
    """``'cast'``: CAST-S (``cast_s_ade20k.py``, linear decoder); ``'vit'``:
    mmseg's ViT-S Segmenter (linear decoder)."""
    import mmcast  # noqa: F401
    import mmseg
    torch.manual_seed(0)
    if name == 'cast':
        return build(osp.join(ROOT, 'configs', 'cast_s_ade20k.py'),
                     **{'decode_head.decoder': 'linear'}, **overrides)
    vit_cfg = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs',
                       'segmenter',
                       'segmenter_vit-s_fcn_8xb1-160k_ade20k-512x512.py')
    return build(vit_cfg, pretrained=None, **overrides)


def peak_mb():
    """Peak resident memory of this process so far, in MB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def whole_image_child(args):
    """One model, one large image, whole-image test_step: peak memory and
    time (run in a fresh process by :func:`whole_image`)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    H, W = args.whole_size
    img = photos(1, (H, W))
    data, _ = samples(img, args.child == 'cast')
    model = build_model(args.child, test_cfg=dict(mode='whole'))
    before = peak_mb()
    times = []
    with torch.no_grad():
        for _ in range(1 + args.whole_reps):
            t = time.perf_counter()
            out = model.test_step(data[0])
            times.append(time.perf_counter() - t)
    assert out[0].seg_logits.data.shape[-2:] == (H, W)
    tokens = int(data[0]['inputs'][0][3].max()) + 1 \
        if args.child == 'cast' else (H // 16) * (W // 16)
    print(json.dumps(dict(
        model=args.child, size=[H, W], tokens=tokens,
        peak_mb=peak_mb(), before_mb=before,
        time_s=statistics.median(times[1:]), first_s=times[0])))


def run_child(args, what, *child_args):
    """Run this tool in a fresh process on ``child_args`` (with the
    parent's ``--threads``) and return the JSON line it prints last."""
    cmd = [sys.executable, osp.abspath(__file__), *child_args]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    if res.returncode:
        sys.exit(f'{what} run of {child_args[1]} failed:\n'
                 f'{res.stderr[-3000:]}')
    return json.loads(res.stdout.strip().splitlines()[-1])


def whole_image(args):
    """Whole-image inference of both models, each in its own process."""
    results = {}
    for child in ('cast', 'vit'):
        results[child] = run_child(
            args, 'whole-image', '--child', child, '--whole-size',
            *map(str, args.whole_size), '--whole-reps', str(args.whole_reps))
    H, W = args.whole_size
    print(f'whole-image inference, one {H}x{W} image, '
          f'{torch.get_num_threads() if not args.threads else args.threads}'
          ' threads (each model in its own process):')
    for name, label in (('cast', 'CAST-S segmentor'),
                        ('vit', 'ViT-S Segmenter ')):
        r = results[name]
        print(f'{label}: {r["tokens"]} tokens, peak RSS {r["peak_mb"]:.0f} '
              f'MB ({r["peak_mb"] - r["before_mb"]:+.0f} MB over the model '
              f'and input), {r["time_s"]:.1f} s per image')
    print('cast_s/vit_s whole-image peak memory ratio: '
          f'{results["cast"]["peak_mb"] / results["vit"]["peak_mb"]:.3f}')
    return results


def rss_mb():
    """Resident memory of this process now, in MB (Linux)."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def train_step_child(args):
    """One model in this process: a warm-up training step, then ``--reps``
    timed ones; prints a JSON line with the step times and the peak
    resident memory above what the built model and batch held (run in a
    fresh process by :func:`train_step`)."""
    from mmengine.optim import OptimWrapper
    from mmengine.structures import PixelData
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(args.train_child)
    model.train()
    batch, _ = samples(photos(2), args.train_child == 'cast')
    gen = torch.Generator().manual_seed(0)
    data = dict(inputs=[b['inputs'][0] for b in batch], data_samples=[])
    for b in batch:
        sample = b['data_samples'][0]
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, 512, 512), generator=gen))
        data['data_samples'].append(sample)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3,
                                         momentum=0.9))
    before = rss_mb()
    times = []
    for _ in range(1 + args.reps):
        t = time.perf_counter()
        model.train_step(data, optim)
        times.append(time.perf_counter() - t)
    print(json.dumps(dict(model=args.train_child, times=times[1:],
                          peak_mb=peak_mb(), before_mb=before)))


def train_step(args):
    """Training-step time and peak memory of both segmentors, each in
    processes of its own (``--rounds`` per model, alternated)."""
    results = {'cast': [], 'vit': []}
    for _ in range(args.rounds):
        for child in results:
            results[child].append(run_child(
                args, 'training-step', '--train-child', child, '--reps',
                str(args.reps)))
    if args.threads:
        torch.set_num_threads(args.threads)
    print(conditions(batch=2, size='512x512',
                     mode='train_step (forward, backward, SGD)',
                     tokens='CAST-S 1024 superpixels, ViT-S 1024 patches',
                     reps=f'{args.reps} steps after a warm-up in each of '
                     f'{args.rounds} processes per model, alternated'))
    figures = {}
    for name, label in (('cast', 'CAST-S segmentor'),
                        ('vit', 'ViT-S Segmenter ')):
        runs = results[name]
        figures[name] = dict(
            step_s=statistics.median(t for r in runs for t in r['times']),
            step_peak_mb=max(r['peak_mb'] - r['before_mb'] for r in runs))
        print(f'{label} train step: median {figures[name]["step_s"]:.2f} s, '
              f'peak RSS above the built model and batch '
              f'{figures[name]["step_peak_mb"]:.0f} MB')
    for key, what in (('step_s', 'time'), ('step_peak_mb', 'peak memory')):
        figures[f'{key}_ratio'] = figures['cast'][key] / figures['vit'][key]
        print(f'cast_s/vit_s train step {what} ratio: '
              f'{figures[f"{key}_ratio"]:.3f}')
    return figures


def slide(args):
    """512x512 slide inference of both models, interleaved."""
    cast, vit = build_model('cast'), build_model('vit')
    imgs = photos(args.images)
    cast_data, sp_times = samples(imgs, True)
    vit_data, _ = samples(imgs, False)
    # More superpixel timings, on more images.
    _, more = samples(photos(8), True)
    sp_times += more
    runs = {
        'cast': lambda: [cast.test_step(d) for d in cast_data],
        'vit': lambda: [vit.test_step(d) for d in vit_data],
    }
    with torch.no_grad():
        times = interleaved_times(runs, args.reps, warmup=1)
    med = {k: statistics.median(v) / len(imgs) for k, v in times.items()}
    tokens = np.mean([int(d['inputs'][0][3].max()) + 1 for d in cast_data])
    print(conditions(images=f'{len(imgs)} x 512x512', mode='test_step, '
                     'slide 512/512', reps=f'{args.reps} interleaved'))
    print(f'{len(imgs)} images 512x512, slide 512/512, '
          f'{torch.get_num_threads()} threads; CAST-S {tokens:.0f} '
          'superpixels vs ViT-S 1024 patches per window')
    print(f'CAST-S segmentor: median {med["cast"] * 1e3:.0f} ms/image')
    print(f'ViT-S Segmenter : median {med["vit"] * 1e3:.0f} ms/image')
    print(f'SEEDS superpixels (Superpixels transform): median '
          f'{statistics.median(sp_times) * 1e3:.1f} ms per 512x512 image '
          f'({len(sp_times)} images)')
    print(f'cast_s/vit_s segmentor time ratio: '
          f'{med["cast"] / med["vit"]:.3f}')
    return dict(tokens=float(tokens), cast_ms=med['cast'] * 1e3,
                vit_ms=med['vit'] * 1e3,
                seeds_ms=statistics.median(sp_times) * 1e3,
                ratio=med['cast'] / med['vit'])


def main():
    args = parse_args()
    quiet_logs(args.verbose)
    if args.child:
        return whole_image_child(args)
    if args.train_child:
        return train_step_child(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    figures = {}
    if 'slide' in args.parts:
        figures['slide'] = slide(args)
    if 'whole' in args.parts:
        figures['whole'] = whole_image(args)
    if 'train' in args.parts:
        figures['train'] = train_step(args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=2)


if __name__ == '__main__':
    run_cli(main)
