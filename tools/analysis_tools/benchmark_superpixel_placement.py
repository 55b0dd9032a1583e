# Copyright (c) mmcast contributors. All rights reserved.
"""Where to compute CAST's superpixels: in the data pipeline, in the data
preprocessor, or in the backbone.  Times on real photos.

    .venv/bin/python tools/analysis_tools/benchmark_superpixel_placement.py
        CONFIG [--size 512] [--batch 2] [--reps 5] [--out FILE.json]

For a CAST config it times, per batch (medians of ``--reps``, interleaved):

* ``pipeline``: the ``Superpixels`` transform on each image (what the data
  loader's workers do, in parallel with the model when they keep up);
* ``preprocessor``: the config's CAST data preprocessor on images *with*
  superpixels (the pipeline placement) and *without* (it computes them:
  the ``missing_superpixels`` policy, threads over the batch, in the main
  process, so every training/test step waits for it);
* ``backbone``: the CAST backbone on normalised images with superpixels,
  and without (a stock preprocessor: it recovers uint8 images from the
  value range and computes them itself);

and prints a table (and writes JSON with ``--out``).
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
from mmcast.utils.timing import photos  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--out', help='write the figures as JSON here')
    return parser.parse_args()


def build(config):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import mmcast  # noqa: F401
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmseg')
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
        cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    else:
        from mmseg.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    transform = find_superpixels(cfg)
    return model.eval(), transform, scope


def find_superpixels(cfg):
    """The config's Superpixels transform (of its test pipeline)."""
    from mmcast.datasets.transforms import Superpixels
    stack = [cfg.test_dataloader.dataset.pipeline]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get('type') == 'Superpixels':
                args = {k: v for k, v in node.items() if k != 'type'}
                return Superpixels(**args)
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    raise ValueError('the config has no Superpixels transform')


def batch_data(imgs, transform, scope, with_superpixels):
    if scope == 'mmpretrain':
        from mmpretrain.structures import DataSample as Sample
    else:
        from mmseg.structures import SegDataSample as Sample
    inputs, samples = [], []
    for img in imgs:
        if with_superpixels:
            img = transform(dict(img=img.copy()))['img']
        inputs.append(torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1))))
        s = Sample()
        s.set_metainfo(dict(img_shape=img.shape[:2],
                            ori_shape=img.shape[:2]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def main():
    args = parse_args()
    model, transform, scope = build(args.config)
    pre, backbone = model.data_preprocessor, model.backbone
    imgs = photos(args.batch, args.size,
                  sources=('astronaut', 'chelsea', 'coffee', 'rocket',
                           'immunohistochemistry'), interpolation='area')
    given = batch_data(imgs, transform, scope, True)
    # Inputs of the backbone: normalised images with / without superpixels.
    with torch.no_grad():
        packed = pre(dict(given))['inputs']
    plain = packed[:, :3].contiguous()

    runs = {
        'pipeline: Superpixels transform':
        lambda: [transform(dict(img=i.copy())) for i in imgs],
        'preprocessor, superpixels given': lambda: pre(dict(given)),
        'preprocessor, computes them':
        lambda: pre(batch_data(imgs, transform, scope, False)),
        'backbone, superpixels given': lambda: backbone(packed),
        'backbone, computes them': lambda: backbone(plain),
    }
    times = {k: [] for k in runs}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for fn in runs.values():  # warm-up
            fn()
        for _ in range(args.reps):
            for name, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    num_sp = int(transform(dict(img=imgs[0].copy()))['num_superpixels'])
    print(f'{args.config}: batch {args.batch} of {args.size}x{args.size} '
          f'photos, ~{num_sp} superpixels per image, '
          f'{torch.get_num_threads()} torch threads, medians of '
          f'{args.reps} reps (ms per batch)')
    width = max(map(len, ms))
    for name, value in ms.items():
        print(f'{name:{width}s} {value:9.1f}')
    extra_pre = ms['preprocessor, computes them'] - \
        ms['preprocessor, superpixels given']
    extra_bb = ms['backbone, computes them'] - \
        ms['backbone, superpixels given']
    print(f'added to every step in the main process: preprocessor '
          f'{extra_pre:.1f} ms, backbone {extra_bb:.1f} ms per batch; the '
          f'pipeline spends {ms["pipeline: Superpixels transform"]:.1f} ms '
          'of data-loader worker time instead')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, size=args.size,
                           batch=args.batch, reps=args.reps,
                           superpixels_per_image=num_sp,
                           ms_per_batch=ms,
                           added_by_preprocessor_ms=extra_pre,
                           added_by_backbone_ms=extra_bb), f, indent=2)


if __name__ == '__main__':
    main()
