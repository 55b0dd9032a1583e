# Copyright (c) mmcast contributors. All rights reserved.
"""Test-time adaptation of CAST's hierarchy, one image at a time (Fig. 9).

    python tools/analysis_tools/tent_hierarchy.py CONFIG [CHECKPOINT] --lr LR
        [--steps 1] [--level 8] [--num-images N] [--out-dir DIR]

CONFIG is a hierarchy evaluation config (``configs/hierarchy/``) with a CAST
``HierarchySegmentor``, a ``test_dataloader`` with object masks and a
``tent_means_dataloader``: training images whose masks give each image a
class (the most frequent class, leaving out ``tent_ignore_classes``), from
which the cosine classifier's class vectors are averaged.  For every test
image the level with ``--level`` segments is scored (oracle region mIoU
against the object mask) before and after TENT
(:func:`mmcast.adaptation.tent_adapt`: entropy of the cosine classifier,
SGD on the normalisation layers' affine parameters, the model itself is
never changed).  Prints a table per image, writes ``tent.json`` and the
before/after scatter ``tent_scatter.png`` to ``--out-dir``.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='TENT on CAST hierarchies')
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', default=None)
    p.add_argument('--lr', type=float, required=True,
                   help='SGD learning rate (the paper states none)')
    p.add_argument('--steps', type=int, default=1)
    p.add_argument('--level', type=int, default=8,
                   help='segments of the scored level (8: objects)')
    p.add_argument('--num-images', type=int, default=None)
    p.add_argument('--out-dir', default='work_dirs/tent')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def image_class(gt, ignore_classes, ignore_index=255):
    """The most frequent class of a mask, or -1."""
    import numpy as np
    vals = gt[(gt != ignore_index) & ~np.isin(gt, list(ignore_classes))]
    if vals.size == 0:
        return -1
    return int(np.bincount(vals).argmax())


def compute_means(model, loader, ignore_classes, num_classes):
    import torch

    from mmcast.adaptation import class_means, image_embeddings
    feats, labels = [], []
    with torch.no_grad():
        for data in loader:
            batch = model.data_preprocessor(data, False)
            feats.append(image_embeddings(model, batch['inputs']))
            labels += [image_class(s.gt_sem_seg.data[0].numpy(),
                                   ignore_classes)
                       for s in batch['data_samples']]
    return class_means(torch.cat(feats), torch.tensor(labels), num_classes)


def level_miou(model, inputs, samples, level, num_classes):
    import torch

    from mmcast.evaluation.functional import region_miou
    from mmcast.evaluation.metrics.utils import gt_map, level_index
    with torch.no_grad():
        out = model.predict(inputs, copy.deepcopy(samples))
    scores = []
    for s in out:
        s = s.to_dict()
        seg = s['pred_levels']['data'][level_index(s, level)].numpy()
        scores.append(region_miou(seg, gt_map(s, 'gt_sem_seg'), num_classes))
    return scores


def scatter(before, after, path, lr, steps):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(before, after, s=12)
    ax.plot([0, 1], [0, 1], 'k--', lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel('region mIoU before TENT')
    ax.set_ylabel('region mIoU after TENT')
    ax.set_title(f'TENT, lr {lr:g}, {steps} step(s)')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmengine.utils import ProgressBar

    import mmcast  # noqa: F401
    from mmcast.adaptation import tent_adapt
    from mmcast.apis import init_model
    if not osp.isfile(args.config):
        sys.exit(f'tent_hierarchy: no config at {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if 'tent_means_dataloader' not in cfg:
        sys.exit('tent_hierarchy: the config needs tent_means_dataloader '
                 '(training images with masks for the class means), e.g. '
                 'configs/hierarchy/cast_toy_scenes.py')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_model(cfg, args.checkpoint)
    ignore = cfg.get('tent_ignore_classes', [])
    test_loader = Runner.build_dataloader(cfg.test_dataloader)
    classes = test_loader.dataset.metainfo['classes']
    print('class means from tent_means_dataloader')
    means = compute_means(model, Runner.build_dataloader(
        cfg.tent_means_dataloader), ignore, len(classes))

    total = len(test_loader.dataset) if args.num_images is None else min(
        args.num_images, len(test_loader.dataset))
    rows, bar = [], ProgressBar(total)
    for data in test_loader:
        batch = model.data_preprocessor(data, False)
        inputs, samples = batch['inputs'], batch['data_samples']
        before = level_miou(model, inputs, samples, args.level, len(classes))
        adapted = tent_adapt(model, inputs, means, args.lr, args.steps)
        after = level_miou(adapted, inputs, samples, args.level,
                           len(classes))
        for s, b, a in zip(samples, before, after):
            rows.append(dict(image=osp.basename(s.img_path), before=b,
                             after=a))
            bar.update()
        if len(rows) >= total:
            break
    sys.stdout.write('\n')
    os.makedirs(args.out_dir, exist_ok=True)
    print(f'{"image":<28}{"before":>8}{"after":>8}{"change":>8}')
    for r in rows:
        print(f'{r["image"]:<28}{r["before"]:8.3f}{r["after"]:8.3f}'
              f'{r["after"] - r["before"]:+8.3f}')
    import numpy as np
    before = np.array([r['before'] for r in rows])
    after = np.array([r['after'] for r in rows])
    summary = dict(mean_before=float(before.mean()),
                   mean_after=float(after.mean()),
                   improved=int((after > before).sum()),
                   worse=int((after < before).sum()), images=len(rows))
    print(f'mean region mIoU at {args.level} segments: '
          f'{summary["mean_before"]:.3f} -> {summary["mean_after"]:.3f}; '
          f'{summary["improved"]} improved, {summary["worse"]} worse of '
          f'{len(rows)}')
    scatter(before, after, osp.join(args.out_dir, 'tent_scatter.png'),
            args.lr, args.steps)
    with open(osp.join(args.out_dir, 'tent.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       lr=args.lr, steps=args.steps, level=args.level,
                       summary=summary, images=rows), f, indent=2)
    print(f'written: {osp.join(args.out_dir, "tent.json")}, '
          f'{osp.join(args.out_dir, "tent_scatter.png")}')
    return summary


if __name__ == '__main__':
    main()
