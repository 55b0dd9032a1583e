# Copyright (c) mmcast contributors. All rights reserved.
"""CAST-S segmentor against mmseg's ViT-S Segmenter on 512x512 slide
inference, at equal token count, on this CPU; and the time of the
superpixel transform per 512x512 image.

    .venv/bin/python tools/analysis_tools/benchmark_segmentor.py
        [--reps 5] [--threads N]
    .venv/bin/python tools/analysis_tools/benchmark_segmentor.py
        --train-step [--reps 3] [--rounds 2] [--threads N]

CAST-S: ``configs/cast_s_ade20k.py`` with a linear decoder (1024 SEEDS
superpixels per 512x512 window); ViT-S: mmseg's
``segmenter/segmenter_vit-s_fcn_8xb1-160k_ade20k-512x512.py`` (linear
decoder, 32x32 = 1024 patch tokens).  Both run ``test_step`` (slide mode,
512 window, stride 512) on the same real photos, interleaved, after a
warm-up; superpixels are computed before timing.  The last line reads
``cast_s/vit_s segmentor time ratio: R``.

``--train-step``: one training step (``train_step``: forward, backward,
SGD with momentum) of each segmentor at 512x512, batch 2, random labels of
150 classes; each model runs in processes of its own (alternated), so that
its peak resident memory (``ru_maxrss``) minus the memory held once the
model and batch are built is its step's own; times are the median step.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import cv2
import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--images', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--train-step', action='store_true',
        help='instead: time and peak memory of one training step (forward, '
        'backward, SGD) at 512x512, batch 2, each model in its own process')
    parser.add_argument('--rounds', type=int, default=2,
                        help='--train-step: processes per model, alternated')
    parser.add_argument('--train-step-child', choices=('cast', 'vit'),
                        help=argparse.SUPPRESS)
    add_cli_flags(parser)
    return parser.parse_args()


def photos(n, size=512):
    from skimage import data
    srcs = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    return [cv2.resize(srcs[i % len(srcs)][..., ::-1], (size, size),
                       interpolation=cv2.INTER_LINEAR) for i in range(n)]


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


def vit_config():
    import mmseg
    return osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs',
                    'segmenter',
                    'segmenter_vit-s_fcn_8xb1-160k_ade20k-512x512.py')


def rss_kib():
    """Resident memory of this process now, KiB."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') // 1024


def train_step_child(name, reps):
    """One model, in this process: ``reps`` timed training steps after a
    warm-up step; prints a JSON line with the step times and the peak
    resident memory above what the built model and batch held."""
    import json
    import resource

    from mmengine.optim import OptimWrapper
    from mmengine.structures import PixelData
    torch.manual_seed(0)
    if name == 'cast':
        model = build(osp.join(ROOT, 'configs', 'cast_s_ade20k.py'),
                      **{'decode_head.decoder': 'linear'})
    else:
        model = build(vit_config(), pretrained=None)
    model.train()
    imgs = photos(2)
    batch, _ = samples(imgs, name == 'cast')
    gen = torch.Generator().manual_seed(0)
    data = dict(inputs=[b['inputs'][0] for b in batch], data_samples=[])
    for b in batch:
        sample = b['data_samples'][0]
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, 512, 512), generator=gen))
        data['data_samples'].append(sample)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3,
                                         momentum=0.9))
    base = rss_kib()
    times = []
    for i in range(reps + 1):
        start = time.perf_counter()
        model.train_step(data, optim)
        if i:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(model=name, times=times,
                          peak_delta_mib=(peak - base) / 1024,
                          threads=torch.get_num_threads())))


def train_step_cost(args):
    """Training-step time and peak memory of both segmentors, each in its
    own processes (``--rounds`` per model, alternated)."""
    import json
    import subprocess
    results = {'cast': [], 'vit': []}
    cmd = [sys.executable, osp.abspath(__file__), '--reps', str(args.reps)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    for _ in range(args.rounds):
        for name in results:
            out = subprocess.run(cmd + ['--train-step-child', name],
                                 check=True, capture_output=True, text=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()
                                            [-1]))
    from mmcast.utils.timing import conditions
    print(conditions(batch=2, size='512x512',
                     mode='train_step: forward, backward, SGD',
                     tokens='CAST-S 1024 superpixels, ViT-S 1024 patches',
                     reps=f'{args.reps} steps after a warm-up, '
                     f'{args.rounds} processes per model, alternated'))
    med, mem = {}, {}
    for name, label in (('cast', 'CAST-S segmentor'),
                        ('vit', 'ViT-S Segmenter ')):
        med[name] = statistics.median(t for r in results[name]
                                      for t in r['times'])
        mem[name] = max(r['peak_delta_mib'] for r in results[name])
        print(f'{label} train step: median {med[name]:.2f} s, peak RSS '
              f'above the built model and batch {mem[name]:.0f} MiB')
    print(f'cast_s/vit_s train step time ratio: '
          f'{med["cast"] / med["vit"]:.3f}')
    print(f'cast_s/vit_s train step peak memory ratio: '
          f'{mem["cast"] / mem["vit"]:.3f}')


def main():
    args = parse_args()
    quiet_logs(args.verbose)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.train_step_child:
        import mmcast  # noqa: F401
        return train_step_child(args.train_step_child, args.reps)
    if args.train_step:
        return train_step_cost(args)
    import mmcast  # noqa: F401
    torch.manual_seed(0)
    cast = build(osp.join(ROOT, 'configs', 'cast_s_ade20k.py'),
                 **{'decode_head.decoder': 'linear'})
    import mmseg
    vit_cfg = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs',
                       'segmenter',
                       'segmenter_vit-s_fcn_8xb1-160k_ade20k-512x512.py')
    vit = build(vit_cfg, pretrained=None)
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
    times = {k: [] for k in runs}
    with torch.no_grad():
        for fn in runs.values():
            fn()
        for _ in range(args.reps):
            for name, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) / len(imgs))
    med = {k: statistics.median(v) for k, v in times.items()}
    tokens = np.mean([int(d['inputs'][0][3].max()) + 1 for d in cast_data])
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


if __name__ == '__main__':
    run_cli(main)
