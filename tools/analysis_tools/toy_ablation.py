# Copyright (c) mmcast contributors. All rights reserved.
"""CAST Table 3a at toy scale: what superpixels and token pooling each add.

    python tools/analysis_tools/toy_ablation.py --out FILE.json \\
        [--rows vit_s vit_s_graphpool cast_s_nopool cast_s] [--seed 0]
        [--steps 120] [--finetune-steps 200] [--views 600] [--threads N]

Every row is built from its own configs in ``configs/ablations/table3a/``
(MoCo v3 pre-training, VOC segment retrieval, VOC transfer), shrunk to a
tiny model (64 channels, one block per stage, equal depth and width for
every row) and run on mmcast's procedural toy scenes instead of COCO and
VOC:

1. self-supervised: MoCo v3 for ``--steps`` steps, each batch drawn from
   ``--views`` pairs of augmented 112 px views of the training scenes made
   once, for all rows, by the configs' view pipelines (superpixels of each
   crop every 8 px: 196 tokens per view, as 224 / 16; patches of 8 px for
   the ViT rows, as many);
2. before tuning: segment retrieval (``SegmentRetrievalMetric``, 20
   neighbours) of the 8-segment level of held-out scenes against a bank of
   training scenes, scored by dataset-pooled region mIoU and boundary F;
3. after tuning: ``--finetune-steps`` steps of supervised transfer (the
   config's head, 2-layer 1x1 convs, SGD with a poly schedule) on the
   training scenes, scored on the held-out scenes by mIoU (mmseg's
   ``IoUMetric``) and boundary F (``BoundaryFMetric``).

Every row sees the same scenes, augmentations and steps (seeded).  The
table is printed beside the paper's VOC numbers; the JSON holds

    {"rows": {"cast_s": {"before": {"region_miou": x, "boundary_f": y},
                         "after": {...}, "seconds": s}, ...},
     "paper": {...}, "seed": s, "steps": n, ...}

with scores in [0, 1].  Set-up and results: docs/ablations.md.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROWS = ('vit_s', 'vit_s_graphpool', 'cast_s_nopool', 'cast_s')
#: CAST Table 3a (VOC): (region mIoU, boundary F) before and after tuning.
PAPER = dict(
    vit_s=dict(before=(30.9, 16.1), after=(65.8, 40.7)),
    vit_s_graphpool=dict(before=(34.5, 19.8), after=(67.2, 41.9)),
    cast_s_nopool=dict(before=(32.2, 21.2), after=(66.5, 46.7)),
    cast_s=dict(before=(38.4, 27.0), after=(67.6, 48.1)),
)
TITLES = dict(vit_s='ViT-S (patches)', vit_s_graphpool='+ token pooling',
              cast_s_nopool='+ superpixel', cast_s='CAST-S (both)')
CLUSTERS = [64, 32, 16, 8]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--rows', nargs='+', default=list(ROWS), choices=ROWS)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=120,
                   help='MoCo v3 steps per row')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--views', type=int, default=600,
                   help='pairs of augmented views made once and shared by '
                   'the rows (each with its own superpixels)')
    p.add_argument('--lr', type=float, default=1e-3,
                   help='MoCo v3 AdamW learning rate')
    p.add_argument('--finetune-steps', type=int, default=200)
    p.add_argument('--finetune-batch-size', type=int, default=8)
    p.add_argument('--finetune-lr', type=float, default=0.03)
    p.add_argument('--train-images', type=int, default=300)
    p.add_argument('--bank-images', type=int, default=60)
    p.add_argument('--val-images', type=int, default=60)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--view-size', type=int, default=112)
    p.add_argument('--embed-dims', type=int, default=64)
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads (default: all cores)')
    return p.parse_args(argv)


# ----------------------------------------------------------------------
# Configs: the row's own, shrunk
def row_config(row: str, task: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, 'configs', 'ablations', 'table3a',
                                    f'{row}_{task}.py'))


def shrink_backbone(backbone: dict, row: str, args, task: str) -> None:
    """The row's backbone at toy size, in place: C channels, one block per
    stage (the ViT-S row: 4 layers), 8 px tokens, clusters 64..8."""
    C = args.embed_dims
    vit_arch = dict(embed_dims=C, num_heads=2, feedforward_channels=4 * C)
    if row.startswith('cast_s'):
        backbone.update(arch=dict(embed_dims=C, depths=[1, 1, 1, 1],
                                  num_heads=2),
                        pool_num_heads=2, img_size=args.view_size,
                        token_pooling='full')
        if backbone.get('pooling', 'keep') is not None:
            backbone['num_clusters'] = CLUSTERS
        return
    vit = backbone['vit']
    vit.update(arch=dict(vit_arch, num_layers=4 if row == 'vit_s' else 1),
               img_size=args.view_size, patch_size=8)
    if backbone.get('neck') is not None:
        backbone['neck'].update(depths=(0, 1, 1, 1), num_heads=2,
                                pool_num_heads=2, num_clusters=CLUSTERS)


def moco_model(row, args):
    cfg = row_config(row, 'mocov3_coco')
    model = copy.deepcopy(cfg.model.to_dict())
    shrink_backbone(model['backbone'], row, args, 'mocov3')
    hidden, out = 4 * args.embed_dims, args.embed_dims
    model['neck'].update(in_channels=args.embed_dims, hid_channels=hidden,
                         out_channels=out)
    model['head']['predictor'].update(in_channels=out, hid_channels=hidden,
                                      out_channels=out)
    model['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    return model


def view_pairs(scenes, args):
    """Two augmented views of random scenes, made by the MoCo configs'
    pipeline (the same for every row) at ``view_size``, each with the
    superpixels of its own crop (every 8 px: 196 per 112 px view)."""
    import numpy as np
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    cfg = row_config('cast_s', 'mocov3_coco')
    views = cfg.train_pipeline[1]  # MultiView, one pipeline per view
    for view in views['transforms']:
        view[0]['scale'] = args.view_size  # RandomResizedCrop
        view[-1]['stride'] = 8  # Superpixels
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose([TRANSFORMS.build(t) for t in (
            views, cfg.train_pipeline[-1])])
    rng = np.random.default_rng(args.seed + 1)
    np.random.seed(args.seed + 2)  # the transforms draw from numpy
    return [pipeline(dict(img=scenes[i]['img'].copy()))
            for i in rng.integers(0, len(scenes), args.views)]


def retrieval_model(row, args):
    cfg = row_config(row, 'voc_retrieval')
    model = copy.deepcopy(cfg.model.to_dict())
    shrink_backbone(model['backbone'], row, args, 'retrieval')
    if 'coarse_pool' in model:
        model['coarse_pool'].update(num_clusters=CLUSTERS[-1],
                                    embed_dims=4 * args.embed_dims,
                                    num_heads=2)
    if row == 'vit_s':
        model['num_clusters'] = CLUSTERS
    metric = dict(cfg.test_evaluator, level=CLUSTERS[-1])
    return model, metric


def transfer_model(row, args):
    cfg = row_config(row, 'voc_transfer')
    model = copy.deepcopy(cfg.model.to_dict())
    shrink_backbone(model['backbone'], row, args, 'transfer')
    model['backbone']['init_cfg'] = None
    model['data_preprocessor']['size'] = (args.size, args.size)
    model['decode_head'].update(in_channels=args.embed_dims,
                                channels=args.embed_dims, num_classes=5)
    return model, [dict(e) for e in cfg.val_evaluator]


def build_metric(cfg):
    """A metric of mmseg's registry, whatever the current default scope
    (a runner or an earlier build may have left mmpretrain's)."""
    from mmengine.registry import DefaultScope

    from mmcast.registry import SEG_METRICS
    with DefaultScope.overwrite_default_scope('mmseg'):
        return SEG_METRICS.build(cfg)


def build(cfg, scope):
    from mmengine.config import ConfigDict
    from mmengine.registry import DefaultScope

    from mmcast.registry import PRETRAIN_MODELS, SEG_MODELS
    registry = PRETRAIN_MODELS if scope == 'mmpretrain' else SEG_MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(ConfigDict(cfg))


# ----------------------------------------------------------------------
# Data
def seg_sample(scene, role=None, flip=False):
    """A packed segmentation sample: ``(4, H, W)`` input (image +
    superpixels) and its data sample."""
    import numpy as np
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    img = np.concatenate([scene['img'].astype(np.float32),
                          scene['sp'][..., None].astype(np.float32)], -1)
    gt = scene['gt']
    if flip:
        img, gt = img[:, ::-1], gt[:, ::-1]
    H, W = gt.shape
    meta = dict(ori_shape=(H, W), img_shape=(H, W), pad_shape=(H, W))
    if role is not None:
        meta['retrieval_role'] = role
    sample = SegDataSample(metainfo=meta)
    sample.gt_sem_seg = PixelData(
        data=torch.from_numpy(np.ascontiguousarray(gt))[None])
    inputs = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    return inputs, sample


def evaluate(model, scenes, metrics, roles=None):
    """Run ``model.predict`` on the scenes and compute the metrics."""
    import torch

    from mmcast.datasets.toy_scenes import CLASSES
    for m in metrics:
        m.dataset_meta = dict(classes=CLASSES)
    model.eval()
    with torch.no_grad():
        for i, scene in enumerate(scenes):
            x, sample = seg_sample(scene, roles[i] if roles else None)
            batch = model.data_preprocessor(
                dict(inputs=[x], data_samples=[sample]), False)
            out = model.predict(batch['inputs'], batch['data_samples'])
            for m in metrics:
                m.process({}, [s.to_dict() for s in out])
    result = {}
    for m in metrics:
        result.update(m.compute_metrics(m.results))
    return result


# ----------------------------------------------------------------------
# The three steps of a row
def pretrain(row, pairs, args, log):
    """MoCo v3 on batches of view pairs; returns the model."""
    import numpy as np
    import torch
    from mmengine.dataset import default_collate
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper
    torch.manual_seed(args.seed)
    model = build(moco_model(row, args), 'mmpretrain')
    model.init_weights()
    optim = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.lr,
        weight_decay=0.1))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim.optimizer, max_lr=args.lr, total_steps=args.steps,
        pct_start=max(0.1, 2 / args.steps))
    rng = np.random.default_rng(args.seed + 3)
    # The momentum encoder's cosine schedule reads the run's length.
    MessageHub.get_current_instance().update_info('max_iters', args.steps)
    model.train()
    for step in range(args.steps):
        idx = rng.choice(len(pairs), args.batch_size, replace=False)
        batch = default_collate([pairs[i] for i in idx])
        losses = model.train_step(batch, optim)
        if step + 1 < args.steps:  # no learning rate after the last step
            sched.step()
        if (step + 1) % max(1, args.steps // 5) == 0:
            log(f'  MoCo step {step + 1}/{args.steps}: loss '
                f'{float(losses["loss"]):.3f}')
    return model


def retrieve(row, backbone_state, bank, queries, args):
    """Segment retrieval of the queries' 8-segment level."""
    cfg, metric = retrieval_model(row, args)
    model = build(cfg, 'mmseg')
    model.init_weights()
    missing = model.backbone.load_state_dict(backbone_state, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    metric = build_metric(metric)
    roles = ['bank'] * len(bank) + ['query'] * len(queries)
    m = evaluate(model, bank + queries, [metric], roles)
    return dict(region_miou=m['mIoU'] / 100, boundary_f=m['bF'] / 100,
                boundary_precision=m['bP'] / 100,
                boundary_recall=m['bR'] / 100)


def transfer(row, backbone_state, scenes, val, args, log):
    """Supervised transfer of the pre-trained backbone, then mIoU and
    boundary F on the held-out scenes."""
    import numpy as np
    import torch
    from mmengine.optim import OptimWrapper

    cfg, metrics = transfer_model(row, args)
    torch.manual_seed(args.seed)
    model = build(cfg, 'mmseg')
    model.init_weights()
    missing = model.backbone.load_state_dict(backbone_state, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    optim = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=args.finetune_lr, momentum=0.9, weight_decay=1e-4))
    sched = torch.optim.lr_scheduler.PolynomialLR(
        optim.optimizer, total_iters=args.finetune_steps, power=0.9)
    rng = np.random.default_rng(args.seed + 4)
    model.train()
    for step in range(args.finetune_steps):
        idx = rng.choice(len(scenes), args.finetune_batch_size,
                         replace=False)
        flips = rng.random(len(idx)) < 0.5
        pairs = [seg_sample(scenes[i], flip=f) for i, f in zip(idx, flips)]
        losses = model.train_step(
            dict(inputs=[p[0] for p in pairs],
                 data_samples=[p[1] for p in pairs]), optim)
        sched.step()
        if (step + 1) % max(1, args.finetune_steps // 3) == 0:
            log(f'  transfer step {step + 1}/{args.finetune_steps}: loss '
                f'{float(losses["decode.loss_ce"]):.3f}')
    m = evaluate(model, val, [build_metric(e) for e in metrics])
    return dict(region_miou=m['mIoU'] / 100, boundary_f=m['bF'] / 100,
                boundary_precision=m['bP'] / 100,
                boundary_recall=m['bR'] / 100)


def backbone_weights(moco_model) -> dict:
    return {k: v.detach().clone() for k, v in
            moco_model.backbone.state_dict().items()}


# ----------------------------------------------------------------------
def print_table(report):
    rows = report['rows']
    print(f'\nToy Table 3a (seed {report["seed"]}, {report["steps"]} MoCo '
          f'steps, {report["finetune_steps"]} transfer steps, '
          f'{report["val_images"]} held-out scenes); percent, paper (VOC) '
          'in brackets')
    print(f'{"row":<18}{"before: mIoU":>16}{"bF":>14}{"after: mIoU":>16}'
          f'{"bF":>14}')
    for row, r in rows.items():
        p = PAPER[row]
        cells = []
        for when in ('before', 'after'):
            for i, key in enumerate(('region_miou', 'boundary_f')):
                cells.append(f'{100 * r[when][key]:6.1f} ({p[when][i]:4.1f})')
        print(f'{TITLES[row]:<18}{cells[0]:>16}{cells[1]:>14}'
              f'{cells[2]:>16}{cells[3]:>14}')
    for when in ('before', 'after'):
        order = sorted(rows, key=lambda k: -rows[k][when]['region_miou'])
        print(f'order by {when}-tuning mIoU: ' +
              ' > '.join(TITLES[k] for k in order))


def main(argv=None):
    args = parse_args(argv)
    import logging

    import torch
    from mmengine.logging import MMLogger

    import mmcast  # noqa: F401
    from mmcast.datasets.toy_scenes import toy_samples
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    MMLogger.get_current_instance().setLevel(logging.WARNING)

    def log(msg):
        print(msg, flush=True)

    t0 = time.time()
    log(f'generating {args.train_images} training and {args.val_images} '
        f'held-out scenes ({args.size} px) with superpixels')
    scenes = toy_samples(args.train_images, args.size, args.seed)
    val = toy_samples(args.val_images, args.size, args.seed + 1000)
    bank = scenes[:args.bank_images]
    log(f'making {args.views} pairs of augmented views (superpixels each)')
    pairs = view_pairs(scenes, args)
    log(f'data ready after {time.time() - t0:.0f} s')
    rows = {}
    for row in args.rows:
        start = time.time()
        log(f'{TITLES[row]} ({row}): MoCo v3, {args.steps} steps')
        moco = pretrain(row, pairs, args, log)
        state = backbone_weights(moco)
        del moco
        t1 = time.time()
        log(f'  segment retrieval (before tuning); pre-training took '
            f'{t1 - start:.0f} s')
        before = retrieve(row, state, bank, val, args)
        t2 = time.time()
        log(f'  transfer, {args.finetune_steps} steps (after tuning); '
            f'retrieval took {t2 - t1:.0f} s')
        after = transfer(row, state, scenes, val, args, log)
        rows[row] = dict(before=before, after=after,
                         seconds=round(time.time() - start, 1),
                         phase_seconds=dict(
                             pretrain=round(t1 - start, 1),
                             retrieval=round(t2 - t1, 1),
                             transfer=round(time.time() - t2, 1)))
        log(f'  before {100 * before["region_miou"]:.1f} / '
            f'{100 * before["boundary_f"]:.1f}, after '
            f'{100 * after["region_miou"]:.1f} / '
            f'{100 * after["boundary_f"]:.1f} ({rows[row]["seconds"]:.0f} s)')

    report = dict(
        rows=rows,
        paper={k: dict(before=dict(region_miou=v['before'][0] / 100,
                                   boundary_f=v['before'][1] / 100),
                       after=dict(region_miou=v['after'][0] / 100,
                                  boundary_f=v['after'][1] / 100))
               for k, v in PAPER.items() if k in rows},
        seed=args.seed, steps=args.steps, batch_size=args.batch_size,
        views=args.views,
        lr=args.lr, finetune_steps=args.finetune_steps,
        finetune_batch_size=args.finetune_batch_size,
        finetune_lr=args.finetune_lr, train_images=args.train_images,
        bank_images=args.bank_images, val_images=args.val_images,
        size=args.size, view_size=args.view_size,
        embed_dims=args.embed_dims, torch_threads=torch.get_num_threads(),
        seconds=round(time.time() - t0, 1))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)
    print_table(report)
    print(f'{report["seconds"]:.0f} s in all; JSON: {args.out}')
    return report


if __name__ == '__main__':
    main()
