# Copyright (c) mmcast contributors. All rights reserved.
"""LarvSeg at toy scale: classes learnt from image-level labels only.

    python tools/analysis_tools/larvseg_toy.py --out FILE.json [--seed 0]
        [--steps 300] [--work-dir DIR] [--mask-images 300]
        [--label-images 300] [--val-images 60] [--cfg-options k=v ...]

On mmcast's procedural scenes (sky, ground, disc, box, triangle), the toy
CAST of ``configs/larvseg/larvseg_cast_toy_scenes.py`` is trained three
times, the same number of optimizer steps from the same seed:

* ``larvseg``: masks of the base classes (sky, ground, disc; box and
  triangle pixels ignored) on one set of scenes, and on another set only
  the image-level labels (the classes each crop shows), batches alternating
  between the two; the LarvSeg head with the CA-Classifier;
* ``baseline``: the same without the CA-Classifier (image-level loss only,
  the paper's baseline);
* ``masks_only``: the base-class masks alone.

Each is evaluated on held-out scenes with full masks by mmcast's
``SplitIoUMetric``.  Everything is seeded; the table is printed and the
JSON holds

    {"larvseg": {"all": a, "base": b, "novel": n, "per_class": {...}},
     "baseline": {...}, "masks_only": {...}, "seed": s, "steps": t,
     "seconds": {...}, "targets": {...}}

with mIoU (and per-class IoU) in [0, 1] (null for a class neither present
in the held-out scenes nor predicted).  ``targets`` (when the three
models ran) says whether each goal of the demonstration is met: LarvSeg's
novel mIoU >= 0.30 and above the baseline's, its base mIoU within 0.05 of
the masks-only model's.  The data seeds are ``1000 * seed + {0, 1, 2}``
(mask scenes, label scenes, held-out scenes).  Set-up and results:
docs/larvseg.md.
"""
import argparse
import gc
import json
import math
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'configs', 'larvseg', 'larvseg_cast_toy_scenes.py')
VARIANTS = ('larvseg', 'baseline', 'masks_only')


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=300,
                   help='optimizer steps of each model')
    p.add_argument('--work-dir', default='work_dirs/larvseg_toy')
    p.add_argument('--mask-images', type=int, default=300,
                   help='scenes with base-class masks')
    p.add_argument('--label-images', type=int, default=300,
                   help='scenes with image-level labels only')
    p.add_argument('--val-images', type=int, default=60,
                   help='held-out scenes with full masks')
    p.add_argument('--variants', nargs='+', default=list(VARIANTS),
                   choices=VARIANTS)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   default={}, help='config overrides for every variant')
    return p.parse_args(argv)


def make_data(root, args):
    """Three disjoint scene sets (different seeds) under ``root``."""
    from mmcast.datasets import generate_toy_scenes
    sets = dict(masks=(args.mask_images, 0), labels=(args.label_images, 0),
                val=(0, args.val_images))
    for i, (name, (num_train, num_val)) in enumerate(sets.items()):
        generate_toy_scenes(osp.join(root, name), num_train, num_val,
                            seed=1000 * args.seed + i)
    return root


def variant_config(variant, root, work_dir, args):
    """The toy config for one variant, on the data under ``root``."""
    from mmcast.apis.launch import load_config
    cfg = load_config(CONFIG, args.cfg_options, work_dir)
    sources = cfg.train_dataloader.dataset.sources
    for src in sources:
        src.dataset.data_root = osp.join(root, src.name)
    cfg.test_dataloader.dataset.data_root = osp.join(root, 'val')
    cfg.test_evaluator.per_class = True
    if variant == 'masks_only':
        cfg.train_dataloader.dataset.sources = [sources[0]]
        cfg.train_dataloader.sampler.source_ratio = [1]
    if variant == 'baseline':
        cfg.model.decode_head.use_ca = False
    # One optimizer step = one batch of each source (gradients averaged,
    # as the paper's GPUs split between the sources), so every model takes
    # the same steps on the same mask batches.
    num_sources = len(cfg.train_dataloader.dataset.sources)
    iters = args.steps * num_sources
    cfg.optim_wrapper.accumulative_counts = num_sources
    cfg.train_cfg.max_iters = iters
    schedulers = []
    for scheduler in cfg.param_scheduler:
        scheduler.begin *= num_sources
        scheduler.end = min(scheduler.end * num_sources, iters)
        if scheduler.begin < iters:  # a short run may end in the warm-up
            schedulers.append(scheduler)
    schedulers[-1].end = iters
    cfg.param_scheduler = schedulers
    # Test once at the end (tools/test.py's path), no validation.
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = max(iters // 4, 1)
    cfg.randomness = dict(seed=args.seed)
    cfg.log_level = 'WARNING'
    return cfg


def fraction(percent):
    """A metric in percent as a fraction; None (JSON null) for NaN, a class
    neither present nor predicted."""
    return None if math.isnan(percent) else round(percent / 100, 4)


def run_variant(variant, root, args):
    """Train and test one variant; returns (metrics, seconds)."""
    from mmcast.apis.launch import build_runner
    start = time.time()
    cfg = variant_config(variant, root,
                         osp.join(args.work_dir, variant), args)
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.test()
    del runner
    gc.collect()
    scores = {k: fraction(metrics[key]) for k, key in
              (('all', 'mIoU'), ('base', 'mIoU_base'),
               ('novel', 'mIoU_novel'))}
    scores['per_class'] = {
        k[4:]: fraction(v) for k, v in metrics.items() if k.startswith('IoU.')
    }
    return scores, round(time.time() - start, 1)


def targets(result):
    """The demonstration's goals, met or not (all three models needed)."""
    if not all(v in result for v in VARIANTS):
        return {}
    lv, bl, mo = (result[v] for v in VARIANTS)
    return {
        'novel_at_least_0.30': lv['novel'] >= 0.30,
        'novel_above_baseline': lv['novel'] > bl['novel'],
        'base_within_0.05_of_masks_only': abs(lv['base'] - mo['base']) <= 0.05,
    }


def main(argv=None):
    args = parse_args(argv)
    import mmcast  # noqa: F401
    start = time.time()
    root = make_data(osp.join(args.work_dir, 'data'), args)
    result, seconds = dict(seed=args.seed, steps=args.steps), {}
    for variant in args.variants:
        print(f'{variant}: training {args.steps} steps', flush=True)
        result[variant], seconds[variant] = run_variant(variant, root, args)
        print(f'{variant}: {result[variant]} ({seconds[variant]} s)',
              flush=True)
    seconds['total'] = round(time.time() - start, 1)
    result['seconds'] = seconds
    result['targets'] = targets(result)
    print(f"\n{'model':<12}{'all':>8}{'base':>8}{'novel':>8}")
    for variant in args.variants:
        r = result[variant]
        print(f"{variant:<12}{r['all']:>8.3f}{r['base']:>8.3f}"
              f"{r['novel']:>8.3f}")
    print(f"(mIoU on {args.val_images} held-out scenes, seed {args.seed}, "
          f"{args.steps} steps each, {seconds['total']} s in all)")
    for goal, met in result['targets'].items():
        print(f"{goal}: {'met' if met else 'NOT met'}")
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
