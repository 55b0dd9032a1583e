# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart at toy scale: dense self-supervised tuning of a tiny ViT and a
tiny CAST on procedurally generated scenes, measured by clustering.

    python tools/analysis_tools/leopart_toy.py --out FILE.json [--seed 0]
        [--vit-steps 150] [--cast-steps 120] [--batch-size 16]
        [--cast-batch-size 8] [--jitter 0.5] [--grayscale 0.2]

Both backbones start from their seeded random initialisation (no
pre-trained weights exist at this scale) and are tuned with the Leopart
algorithm of mmcast (multi-crop with boxes, EMA teacher, Sinkhorn-Knopp
targets, swapped prediction on roi-aligned overlaps) on unlabelled toy
scenes (sky, ground, discs, boxes, triangles).  On held-out scenes, the
dense tokens of every image are clustered by k-means into K = 5 (the toy
classes) and scored by Hungarian mIoU against the masks, before and after
tuning; a random projection of the raw 8x8 pixel patches is the random
baseline.  The fully unsupervised path (cluster-based foreground
extraction from the tuned teacher's attention, part clusters, Infomap
communities; settings tuned on training scenes) runs on the better tuned
backbone, against the scenes' objects over a background (sky + ground).
Everything is seeded; the table is printed and the JSON holds

    {"vit": {"before": b, "after": a, ...}, "cast": {...}, "random": r,
     "community": {"miou": m, ...}, "seed": s, ...}

with scores in [0, 1].  Set-up, figures and the paper's numbers:
docs/leopart.md.
"""
import argparse
import json
import os
import random
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
NUM_CLASSES = 5  # sky, ground, disc, box, triangle
OBJECTS = (2, 3, 4)  # disc, box, triangle (after the -1 shift)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--vit-steps', type=int, default=150)
    p.add_argument('--cast-steps', type=int, default=120)
    p.add_argument('--batch-size', type=int, default=16,
                   help='images per ViT step')
    p.add_argument('--cast-batch-size', type=int, default=8,
                   help='images per CAST step (superpixels of every crop '
                   'cost time)')
    p.add_argument('--lr', type=float, default=5e-4,
                   help='backbone lr (the head gets 10x, as in Leopart)')
    p.add_argument('--train-images', type=int, default=200)
    p.add_argument('--val-images', type=int, default=40)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--embed-dims', type=int, default=96)
    p.add_argument('--num-prototypes', type=int, default=50)
    p.add_argument('--loss-mask', default='all',
                   choices=['all', 'fg', 'bg'],
                   help="'all' by default: a random start's attention is "
                   'no foreground yet')
    p.add_argument('--jitter', type=float, default=0.5,
                   help='colour jitter strength of the crops (release: 1)')
    p.add_argument('--grayscale', type=float, default=0.2,
                   help='grey-scale probability of a crop (release: 0.2)')
    p.add_argument('--cast-level', default='all',
                   help="CAST's dense tokens: 'all' (mean of the stages) or "
                   'a stage index')
    p.add_argument('--eval-size', type=int, default=64,
                   help='side of the maps the clusters are scored on')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads (1: the machine is shared)')
    return p.parse_args(argv)


def backbone_cfg(kind, args):
    if kind == 'cast':
        return dict(type='CAST',
                    arch=dict(embed_dims=args.embed_dims,
                              depths=[1, 1, 1, 1], num_heads=3),
                    img_size=64, num_clusters=[32, 16, 8, 4],
                    pool_num_heads=3, drop_path_rate=0.1, out_type='raw',
                    with_cls_attention=True)
    return dict(type='mmpretrain.VisionTransformer',
                arch=dict(embed_dims=args.embed_dims, num_layers=4,
                          num_heads=3,
                          feedforward_channels=4 * args.embed_dims),
                img_size=64, patch_size=8, drop_path_rate=0.1,
                out_type='featmap')


def leopart_cfg(kind, args):
    pre = 'CASTSelfSupDataPreProcessor' if kind == 'cast' else \
        'SelfSupDataPreprocessor'
    return dict(
        type='Leopart', backbone=backbone_cfg(kind, args),
        cast_level=args.cast_level if args.cast_level == 'all' else int(
            args.cast_level),
        base_momentum=0.01, loss_mask=args.loss_mask,
        data_preprocessor=dict(type=pre, mean=MEAN, std=STD, to_rgb=True),
        head=dict(type='LeopartHead', in_channels=args.embed_dims,
                  hid_channels=512, out_channels=64,
                  num_prototypes=args.num_prototypes))


def crop_pipeline(kind, jitter, grayscale):
    """Leopart's crops at toy scale: 2 global of 64, 4 local of 32."""
    from mmengine.dataset import Compose
    views = [
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=0.5),
    ]
    if grayscale > 0:
        views.insert(0, dict(type='RandomGrayscale', prob=grayscale,
                             keep_channels=True))
    if jitter > 0:
        views.insert(0, dict(type='RandomApply', transforms=[dict(
            type='ColorJitter', brightness=0.8 * jitter,
            contrast=0.8 * jitter, saturation=0.8 * jitter,
            hue=0.2 * jitter)], prob=0.8))
    if kind == 'cast':
        views.append(dict(type='Superpixels', stride=8))
    return Compose([
        dict(type='MultiCropWithBoxes', crop_sizes=(64, 32),
             num_crops=(2, 4), view_pipeline=views),
        dict(type='PackInputs', algorithm_keys=['crop_boxes'])
    ])


def model_inputs(scenes, with_superpixels):
    """Normalised ``(B, 3 or 4, H, W)`` RGB inputs."""
    import numpy as np
    import torch
    mean = torch.tensor(MEAN)[:, None, None]
    std = torch.tensor(STD)[:, None, None]
    xs = []
    for s in scenes:
        x = torch.from_numpy(s['img'][..., ::-1].copy()).permute(2, 0, 1)
        x = (x.float() - mean) / std
        if with_superpixels:
            x = torch.cat([x, torch.from_numpy(
                s['sp'].astype(np.float32))[None]])
        xs.append(x)
    return torch.stack(xs)


def dense_maps(model, scenes, size, attention=False):
    """Tokens bilinearly upsampled to ``size`` (``(N, size, size, C)``) and
    optionally the teacher's attention foreground at ``size``."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from mmcast.models.utils import attention_foreground, dense_features
    from mmcast.models.utils.dense_features import is_cast
    feats, fgs = [], []
    with torch.no_grad():
        for i in range(0, len(scenes), 20):
            part = scenes[i:i + 20]
            x = model_inputs(part, is_cast(model.backbone))
            out = dense_features(model.backbone, x, attention,
                                 model.cast_level)
            f = F.interpolate(out['feats'], size=(size, size),
                              mode='bilinear', align_corners=False)
            feats.append(f.permute(0, 2, 3, 1).numpy())
            if attention:
                fg = attention_foreground(out['attention'])
                fgs.append(F.interpolate(fg[:, None].float(),
                                         size=(size, size))[:, 0].numpy())
    feats = np.concatenate(feats)
    return (feats, np.concatenate(fgs) > 0.5) if attention else feats


def downsample_gt(scenes, size):
    import cv2
    import numpy as np
    return np.stack([cv2.resize(s['gt'].astype(np.uint8), (size, size),
                                interpolation=cv2.INTER_NEAREST)
                     for s in scenes]).astype(np.int64)


def clustering_score(feats, gts, seed):
    """Hungarian mIoU of K = 5 k-means clusters, mean of 3 seeds."""
    from mmcast.evaluation.dense_clustering import dense_clustering_miou
    scores = dense_clustering_miou(feats, list(gts), NUM_CLASSES,
                                   ks=(NUM_CLASSES, ), pca_dim=None,
                                   seeds=(seed, seed + 1, seed + 2))
    return scores[f'hungarian@{NUM_CLASSES}']


def random_projection(scenes, size, dims, seed):
    """A fixed random linear map of each 8x8 RGB patch (normalised)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    x = model_inputs(scenes, False)
    B, C, H, W = x.shape
    patches = F.unfold(x, 8, stride=8)  # (B, 192, L)
    g = torch.Generator().manual_seed(seed)
    proj = torch.randn(dims, C * 64, generator=g) / (C * 64)**0.5
    maps = (proj @ patches).view(B, dims, H // 8, W // 8)
    maps = F.interpolate(maps, size=(size, size), mode='bilinear',
                         align_corners=False)
    return maps.permute(0, 2, 3, 1).numpy().astype(np.float32)


def tune(model, scenes, kind, steps, batch_size, args):
    """Leopart steps on random batches of crops; returns seconds."""
    import numpy as np
    from mmengine.dataset import default_collate
    from mmengine.logging import MessageHub
    from mmengine.optim import CosineAnnealingLR, build_optim_wrapper
    from mmengine.utils import ProgressBar
    from mmpretrain.engine.schedulers import CosineAnnealingWeightDecay
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=args.lr, weight_decay=0.04),
        paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.,
                           flat_decay_mult=0.,
                           custom_keys={'head.': dict(lr_mult=10.)})))
    schedulers = [
        CosineAnnealingLR(optim, T_max=steps, by_epoch=False),
        CosineAnnealingWeightDecay(optim, eta_min=0.5, T_max=steps,
                                   by_epoch=False)
    ]
    MessageHub.get_current_instance().update_info('max_iters', steps)
    pipeline = crop_pipeline(kind, args.jitter, args.grayscale)
    rng = np.random.default_rng(args.seed + 1)
    model.train()
    start = time.time()
    print(f'Leopart-tuning the {kind.upper()}: {steps} steps of '
          f'{batch_size} images x 6 crops')
    bar = ProgressBar(steps)
    for _ in range(steps):
        idx = rng.choice(len(scenes), batch_size, replace=False)
        batch = default_collate([pipeline(dict(img=scenes[i]['img']))
                                 for i in idx])
        model.train_step(batch, optim)
        for s in schedulers:
            s.step()
        bar.update()
    sys.stdout.write('\n')
    model.eval()
    return time.time() - start


def community_merge(model, train, val, args):
    """The fully unsupervised path on the tuned model's tokens and class
    attention (objects over a background: sky and ground are background).
    """
    import numpy as np

    from mmcast.evaluation.unsupervised_segmentation import \
        FullyUnsupervisedSegmentation
    size = args.eval_size // 2
    scenes = train + val
    feats, fg = dense_maps(model, scenes, size, attention=True)
    gts = downsample_gt(scenes, size)
    # background 0, objects 1..3
    objects = np.zeros_like(gts)
    for i, c in enumerate(OBJECTS):
        objects[gts == c] = i + 1
    is_train = np.arange(len(scenes)) < len(train)
    path = FullyUnsupervisedSegmentation(
        num_classes=len(OBJECTS) + 1, background_classes=(0, ),
        k_foreground=20, k_parts=(8, 12), markov_times=(0.5, 1., 2.),
        weight_thresholds=(0.02, 0.05, 0.1), num_objects=len(OBJECTS),
        pca_dim=None, seed=max(args.seed, 1), cut_range=(0.3, 0.9))
    out = path.run(feats, fg, objects, is_train)
    return dict(miou=out['miou'], train_miou=out['train_miou'],
                k_parts=out['k_parts'], markov_time=out['markov_time'],
                weight_threshold=out['weight_threshold'],
                num_communities=out['num_communities'],
                cbfe_threshold=out['threshold'],
                cbfe_val_iou=out['cbfe_val_iou'],
                attention_val_iou=float(np.mean([
                    ((f & (o > 0)).sum() / max((f | (o > 0)).sum(), 1))
                    for f, o in zip(fg[~is_train], objects[~is_train])])),
                classes=['background', 'disc', 'box', 'triangle'])


def main(argv=None):
    args = parse_args(argv)
    import logging

    import numpy as np
    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mmcast  # noqa: F401
    from mmcast.datasets.toy_scenes import toy_samples
    from mmcast.registry import PRETRAIN_MODELS
    torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine').setLevel(logging.ERROR)
    init_default_scope('mmpretrain')
    t0 = time.time()
    print(f'generating {args.train_images} training and {args.val_images} '
          f'held-out scenes ({args.size} px)')
    train = toy_samples(args.train_images, args.size, args.seed)
    val = toy_samples(args.val_images, args.size, args.seed + 1000)
    gts = downsample_gt(val, args.eval_size)

    results, models = {}, {}
    random_score = clustering_score(
        random_projection(val, args.eval_size, args.embed_dims, args.seed),
        gts, args.seed)
    for kind, steps, batch in (('vit', args.vit_steps, args.batch_size),
                               ('cast', args.cast_steps,
                                args.cast_batch_size)):
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)  # the crops and their augmentations
        random.seed(args.seed)
        model = PRETRAIN_MODELS.build(leopart_cfg(kind, args))
        model.init_weights()
        model.eval()
        before = clustering_score(dense_maps(model, val, args.eval_size),
                                  gts, args.seed)
        seconds = tune(model, train, kind, steps, batch, args)
        after = clustering_score(dense_maps(model, val, args.eval_size),
                                 gts, args.seed)
        results[kind] = dict(before=before, after=after, steps=steps,
                             batch_size=batch,
                             train_seconds=round(seconds, 1))
        models[kind] = model
        print(f'{kind.upper()}: clustering mIoU {before:.3f} -> {after:.3f}')

    best = max(('vit', 'cast'), key=lambda k: results[k]['after'])
    print(f'fully unsupervised path on the tuned {best.upper()}')
    community = community_merge(models[best], train[:60], val, args)
    community['backbone'] = best

    report = dict(results, random=random_score, community=community,
                  seed=args.seed, lr=args.lr,
                  train_images=args.train_images,
                  val_images=args.val_images, size=args.size,
                  embed_dims=args.embed_dims, loss_mask=args.loss_mask,
                  jitter=args.jitter, grayscale=args.grayscale,
                  cast_level=args.cast_level,
                  num_prototypes=args.num_prototypes, k=NUM_CLASSES,
                  torch_threads=torch.get_num_threads(),
                  seconds=round(time.time() - t0, 1))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)

    print(f'\nLeopart toy (seed {args.seed}, {args.val_images} held-out '
          f'scenes, k-means K={NUM_CLASSES}, Hungarian mIoU)')
    print(f'{"backbone":<10}{"before":>10}{"after":>10}{"steps":>8}'
          f'{"seconds":>10}')
    for kind in ('vit', 'cast'):
        r = results[kind]
        print(f'{kind:<10}{r["before"]:10.3f}{r["after"]:10.3f}'
              f'{r["steps"]:8d}{r["train_seconds"]:10.0f}')
    print(f'{"random":<10}{random_score:10.3f}  (random projection of '
          '8x8 pixel patches)')
    print(f'community detection ({best}): mIoU {community["miou"]:.3f} '
          f'over background + 3 objects ({community["num_communities"]} '
          f'communities); {report["seconds"]:.0f} s in all; JSON: '
          f'{args.out}')
    return report


if __name__ == '__main__':
    main()
