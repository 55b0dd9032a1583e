# Copyright (c) mmcast contributors. All rights reserved.
"""CAST's core claim at toy scale: segments that come free with recognition.

    python tools/analysis_tools/toy_core_claim.py --out FILE.json [--seed 0]
        [--steps 400] [--train-images 400] [--val-images 60] [--picture P]

A CAST-S-tiny and a ViT of equal depth and width are trained the same number
of steps on procedurally generated scenes (mmcast's toy scenes: sky, ground
and discs, boxes, triangles) with image-level labels only (which object
classes are present: multi-label); no mask is seen in training.  Then, on
held-out scenes, the 8-segment level of CAST's hierarchy and the 8-way
nested k-means of the ViT's tokens (the paper's ViT baseline) are scored
against the pixel masks: oracle region mIoU per image and boundary F
(``mmcast.evaluation.HierarchyMetric``) over the 5 toy classes, and over
the classes the image labels name with sky and ground as one background
(``objects_*``).  The untrained CAST (superpixels and random GraphPools)
shows what training adds; ``cast_soft`` reads CAST's levels as the
winner-take-all of the soft product (the paper's wording) instead of the
release's chained argmax.  Everything is seeded; the table is printed and
the JSON holds

    {"cast": {"region_miou": x, "boundary_f": y, ...},
     "vit_kmeans": {...}, "cast_untrained": {...}, "seed": s, "steps": n}

with scores in [0, 1].  Set-up and results: docs/evaluation.md.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

#: Object classes of the toy scenes (label ids 3, 4, 5): the image labels.
OBJECTS = ('disc', 'box', 'triangle')
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=400)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--train-images', type=int, default=400)
    p.add_argument('--val-images', type=int, default=60)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--embed-dims', type=int, default=64)
    p.add_argument('--depths', type=int, nargs=4, default=[1, 1, 1, 1])
    p.add_argument('--num-heads', type=int, default=2)
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads (default 1: these small models run '
                   'fastest single-threaded, above all on a busy machine)')
    p.add_argument('--picture', default=None,
                   help='also save held-out scenes with each 8-segment map')
    return p.parse_args(argv)


def batch_inputs(items, flips, with_superpixels):
    """``(B, 3 or 4, H, W)`` float inputs (BGR, superpixels last)."""
    import numpy as np
    import torch
    arrays = []
    for item, flip in zip(items, flips):
        chans = [item['img'].astype(np.float32)]
        if with_superpixels:
            chans.append(item['sp'][..., None].astype(np.float32))
        x = np.concatenate(chans, -1)
        if flip:
            x = x[:, ::-1]
        arrays.append(torch.from_numpy(np.ascontiguousarray(x)).permute(
            2, 0, 1))
    return torch.stack(arrays)


def classifier_cfg(kind, args):
    backbone = backbone_cfg(kind, args, for_hierarchy=False)
    pre = 'CASTClsDataPreProcessor' if kind == 'cast' else \
        'mmpretrain.ClsDataPreprocessor'
    return dict(
        type='mmpretrain.ImageClassifier',
        data_preprocessor=dict(type=pre, mean=MEAN, std=STD, to_rgb=True,
                               to_onehot=True, num_classes=len(OBJECTS)),
        backbone=backbone,
        head=dict(type='mmpretrain.MultiLabelLinearClsHead',
                  num_classes=len(OBJECTS), in_channels=args.embed_dims))


def backbone_cfg(kind, args, for_hierarchy):
    heads = args.num_heads
    if kind == 'cast':
        return dict(
            type='CAST',
            arch=dict(embed_dims=args.embed_dims, depths=args.depths,
                      num_heads=heads),
            img_size=args.size, num_clusters=[64, 32, 16, 8],
            pos_embed='learned', token_pooling='full', pool_num_heads=heads)
    return dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=args.embed_dims, num_layers=sum(args.depths),
                  num_heads=heads, feedforward_channels=4 * args.embed_dims),
        img_size=args.size, patch_size=8,
        out_type='featmap' if for_hierarchy else 'cls_token')


def train(model, data, args, desc):
    """Multi-label training on image labels; returns seconds."""
    import numpy as np
    import torch
    from mmengine.optim import OptimWrapper
    from mmengine.utils import ProgressBar
    from mmpretrain.structures import DataSample
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=args.lr,
                                           weight_decay=0.05))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim.optimizer, max_lr=args.lr, total_steps=args.steps,
        pct_start=0.1)
    rng = np.random.default_rng(args.seed + 1)
    with_sp = type(model.backbone).__name__ == 'CAST'
    model.train()
    start = time.time()
    print(f'training {desc}: {args.steps} steps')
    bar = ProgressBar(args.steps)
    for _ in range(args.steps):
        idx = rng.choice(len(data), args.batch_size, replace=False)
        items = [data[i] for i in idx]
        flips = rng.random(len(items)) < 0.5
        samples = [DataSample().set_gt_label(it['labels']) for it in items]
        model.train_step(dict(inputs=batch_inputs(items, flips, with_sp),
                              data_samples=samples), optim)
        sched.step()
        bar.update()
    sys.stdout.write('\n')
    return time.time() - start


def accuracy(model, data):
    """Share of (image, class) presence decisions right at 0.5."""
    import numpy as np
    import torch
    with_sp = type(model.backbone).__name__ == 'CAST'
    model.eval()
    right = total = 0
    with torch.no_grad():
        for i in range(0, len(data), 16):
            items = data[i:i + 16]
            x = batch_inputs(items, [False] * len(items), with_sp)
            batch = model.data_preprocessor(dict(inputs=x), False)
            scores = model(batch['inputs'], mode='tensor').sigmoid()
            for it, s in zip(items, scores.numpy()):
                truth = np.zeros(len(OBJECTS), bool)
                truth[it['labels']] = True
                right += int(((s > 0.5) == truth).sum())
                total += len(OBJECTS)
    return right / total


def hierarchy_scores(kind, backbone_state, data, args, assignment='hard'):
    """Region mIoU and boundary F of the 8-segment level (and 16).

    Returns:
        tuple[dict, list]: the scores and, per held-out scene, its
        8-segment map (for the picture).
    """
    import numpy as np
    import torch
    from mmengine.registry import DefaultScope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    from mmcast.datasets.toy_scenes import CLASSES
    from mmcast.evaluation import HierarchyMetric
    model_cfg = dict(
        type='HierarchySegmentor' if kind == 'cast' else
        'ViTKMeansHierarchy',
        backbone=backbone_cfg(kind, args, for_hierarchy=True),
        data_preprocessor=dict(type='CASTSegDataPreProcessor', mean=MEAN,
                               std=STD, bgr_to_rgb=True))
    if kind == 'cast':
        model_cfg.update(assignment=assignment)
    else:
        model_cfg.update(num_clusters=[64, 32, 16, 8], seed=args.seed)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(model_cfg)
    model.backbone.load_state_dict(backbone_state)
    model.eval()
    metric = HierarchyMetric(levels=[8, 16])
    metric.dataset_meta = dict(classes=CLASSES)
    # The classes the image labels name, with sky and ground as one
    # background class (what recognition of these labels asks to separate).
    objects = HierarchyMetric(levels=[8], gt_key='gt_objects', num_classes=4)
    to_objects = np.array([0, 0, 1, 2, 3])
    maps = []
    with torch.no_grad():
        for item in data:
            sample = SegDataSample(metainfo=dict(
                ori_shape=item['gt'].shape, img_shape=item['gt'].shape))
            sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(item['gt'])[None])
            sample.gt_objects = PixelData(
                data=torch.from_numpy(to_objects[item['gt']])[None])
            x = batch_inputs([item], [False], True)
            batch = model.data_preprocessor(
                dict(inputs=[x[0]], data_samples=[sample]), False)
            out = [s.to_dict() for s in model.predict(
                batch['inputs'], batch['data_samples'])]
            metric.process({}, out)
            objects.process({}, out)
            level = out[0]['level_sizes'][1:].index(8) + 1
            maps.append(out[0]['pred_levels']['data'][level].numpy())
    m = metric.compute_metrics(metric.results)
    o = objects.compute_metrics(objects.results)
    scores = dict(region_miou=m['mIoU@8'] / 100, boundary_f=m['bF@8'] / 100,
                  boundary_precision=m['bP@8'] / 100,
                  boundary_recall=m['bR@8'] / 100,
                  region_miou_16=m['mIoU@16'] / 100,
                  boundary_f_16=m['bF@16'] / 100,
                  objects_region_miou=o['mIoU@8'] / 100,
                  objects_boundary_f=o['bF@8'] / 100,
                  segments_per_image=float(np.mean(
                      [len(np.unique(mp)) for mp in maps])))
    return scores, maps


def save_picture(path, data, columns, num=6):
    """Scenes in rows: image | masks | one 8-segment map per column."""
    import cv2
    import numpy as np

    from mmcast.datasets.toy_scenes import PALETTE
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 255, (256, 3)).astype(np.uint8)
    palette = np.array(PALETTE, np.uint8)[:, ::-1]
    rows = []
    for i, item in enumerate(data[:num]):
        cells = [item['img'], palette[item['gt']]]
        for _, maps in columns:
            cells.append(colours[maps[i] % 256])
        rows.append(np.concatenate(
            [np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255)
             for c in cells], 1))
    grid = np.concatenate(rows, 0)
    head = np.full((22, grid.shape[1], 3), 255, np.uint8)
    w = data[0]['img'].shape[1] + 4
    for j, name in enumerate(['image', 'masks'] + [n for n, _ in columns]):
        cv2.putText(head, name, (j * w + 4, 16), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(path, np.concatenate([head, grid], 0))


def main(argv=None):
    args = parse_args(argv)
    import logging

    import numpy as np
    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import DefaultScope, init_default_scope

    import mmcast  # noqa: F401
    from mmcast.datasets.toy_scenes import toy_samples
    from mmcast.registry import PRETRAIN_MODELS
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    init_default_scope('mmseg')
    t0 = time.time()
    print(f'generating {args.train_images} training and {args.val_images} '
          f'held-out scenes ({args.size} px) with superpixels')
    train_data = toy_samples(args.train_images, args.size, args.seed)
    val_data = toy_samples(args.val_images, args.size, args.seed + 1000)

    results, times, maps = {}, {}, {}
    for kind in ('cast', 'vit'):
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        # The classifier's head and loss are mmpretrain's: build them in
        # its scope (the default scope decides which registry a name is
        # looked up in first).
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = PRETRAIN_MODELS.build(classifier_cfg(kind, args))
            model.init_weights()
        if kind == 'cast':
            print('scoring the untrained CAST')
            results['cast_untrained'], maps['CAST untrained'] = \
                hierarchy_scores('cast', model.backbone.state_dict(),
                                 val_data, args)
        times[kind] = train(model, train_data, args, kind.upper())
        acc = accuracy(model, val_data)
        print(f'scoring the trained {kind.upper()} hierarchy')
        state = model.backbone.state_dict()
        if kind == 'cast':
            results['cast'], maps['CAST'] = hierarchy_scores(
                'cast', state, val_data, args)
            # The paper's wording: winner-take-all of the soft product.
            results['cast_soft'], maps['CAST soft'] = hierarchy_scores(
                'cast', state, val_data, args, assignment='soft')
            results['cast_soft']['label_accuracy'] = acc
        else:
            results['vit_kmeans'], maps['ViT+k-means'] = hierarchy_scores(
                'vit', state, val_data, args)
        key = 'cast' if kind == 'cast' else 'vit_kmeans'
        results[key]['label_accuracy'] = acc
        results[key]['train_seconds'] = round(times[kind], 1)
    if args.picture:
        save_picture(args.picture, val_data, [
            (name, maps[name]) for name in
            ('CAST', 'CAST soft', 'ViT+k-means', 'CAST untrained')])

    report = dict(results, seed=args.seed, steps=args.steps,
                  train_images=args.train_images,
                  val_images=args.val_images, size=args.size,
                  embed_dims=args.embed_dims, depths=args.depths,
                  num_heads=args.num_heads, batch_size=args.batch_size,
                  lr=args.lr, torch_threads=torch.get_num_threads(),
                  seconds=round(time.time() - t0, 1))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)

    print(f'\nToy core claim (seed {args.seed}, {args.steps} steps, '
          f'{args.val_images} held-out scenes, 8-segment level)')
    print(f'{"model":<16}{"region mIoU":>12}{"boundary F":>12}'
          f'{"segments":>10}{"label acc.":>12}{"objects mIoU":>14}'
          f'{"objects bF":>12}')
    for key in ('cast', 'vit_kmeans', 'cast_untrained', 'cast_soft'):
        r = results[key]
        acc = r.get('label_accuracy')
        acc = f'{acc:12.3f}' if acc is not None else f'{"-":>12}'
        print(f'{key:<16}{r["region_miou"]:12.3f}{r["boundary_f"]:12.3f}'
              f'{r["segments_per_image"]:10.1f}{acc}'
              f'{r["objects_region_miou"]:14.3f}'
              f'{r["objects_boundary_f"]:12.3f}')
    gap = results['cast']['region_miou'] - results['vit_kmeans'][
        'region_miou']
    print(f'CAST - ViT: {100 * gap:+.1f} points of region mIoU, '
          f'{100 * (results["cast"]["boundary_f"] - results["vit_kmeans"]["boundary_f"]):+.1f} '
          f'of boundary F; {report["seconds"]:.0f} s in all; '
          f'JSON: {args.out}')
    return report


if __name__ == '__main__':
    main()
