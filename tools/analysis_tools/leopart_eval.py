# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart's label-free evaluations of dense features (ViT or CAST).

    python tools/analysis_tools/leopart_eval.py CONFIG [CHECKPOINT]
        --data DATA_CONFIG [--data-root DIR] [--ks 21 100 500]
        [--eval-size 100] [--pca-dim 50] [--seeds 0] [--num-images N]
        [--fully-unsupervised [--num-train-images N] [--k-foreground 200]
         [--k-parts 149] [--markov-times 2.0] [--weight-thresholds 0.09]]
        [--out FILE.json] [--cfg-options k=v ...]

CONFIG is a Leopart training config (its student backbone is evaluated;
CHECKPOINT is a Leopart checkpoint, or any file whose ``backbone.*``
weights fit).  DATA_CONFIG is an mmseg config whose ``test_dataloader``
gives the images to evaluate and their masks (e.g.
``configs/leopart/probe_linear_vit_s16_voc.py``, or the ``_cast_`` one,
which computes superpixels).

Clustering (Leopart's over-clustering protocol): the token maps of every
image are standardised, reduced by PCA and clustered by k-means (faiss)
at their own grid; the cluster maps are upsampled (nearest) to
``eval-size`` squares and matched to the classes on the dataset's
confusion matrix: Hungarian when K equals the number of classes,
many-to-one otherwise (paper, ViT-S/16 on VOC: 41.7 at K = 21, 53.5 at
K = 500).

``--fully-unsupervised``: cluster-based foreground extraction from the
class token's attention, part clusters of the foreground, communities of
their co-occurrence graph (Infomap), scored by Hungarian mIoU; the
precision threshold and the community settings are chosen on the
``train_dataloader`` images of DATA_CONFIG (the grid options try every
combination).  Computed at the token grid (simplification).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='Leopart config (the model)')
    p.add_argument('checkpoint', nargs='?', default=None,
                   help='weights (backbone.* are used)')
    p.add_argument('--data', required=True,
                   help='mmseg config with the test (and train) data')
    p.add_argument('--data-root', default=None,
                   help="the datasets' data_root (default: DATA_CONFIG's)")
    p.add_argument('--ks', type=int, nargs='+', default=None,
                   help='cluster counts (default: classes, 100, 500)')
    p.add_argument('--eval-size', type=int, default=100)
    p.add_argument('--pca-dim', type=int, default=50)
    p.add_argument('--kmeans-iters', type=int, default=100)
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--num-images', type=int, default=None)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--fully-unsupervised', action='store_true')
    p.add_argument('--num-train-images', type=int, default=None)
    p.add_argument('--attention-mass', type=float, default=0.65,
                   help='attention kept as the noisy foreground')
    p.add_argument('--k-foreground', type=int, default=200)
    p.add_argument('--k-parts', type=int, nargs='+', default=[149])
    p.add_argument('--markov-times', type=float, nargs='+', default=[2.])
    p.add_argument('--weight-thresholds', type=float, nargs='+',
                   default=[0.09])
    p.add_argument('--community-method', default='infomap',
                   choices=['infomap', 'louvain'])
    p.add_argument('--community-seed', type=int, default=1)
    p.add_argument('--out', help='JSON file to write')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of CONFIG, key=value')
    return p.parse_args(argv)


def build_model(cfg, checkpoint):
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint

    from mmcast.registry import PRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu',
                        strict=False, revise_keys=[])
    else:
        model.init_weights()
    return model.eval()


def build_dataset(data_cfg, split, data_root=None):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    ds = data_cfg.test_dataloader.dataset.copy()
    if split == 'train':
        ds = data_cfg.train_dataloader.dataset.copy()
        ds['pipeline'] = data_cfg.test_dataloader.dataset.pipeline
    if data_root is not None:
        ds['data_root'] = data_root
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(ds)


def extract(model, dataset, num, batch_size, eval_size, attention_mass,
            with_attention):
    """Token maps ``(N, h, w, C)``, masks at ``eval_size`` and at the token
    grid, and (optionally) the attention foreground at the grid."""
    import cv2
    import numpy as np
    import torch
    from mmengine.utils import ProgressBar

    from mmcast.models.utils import attention_foreground, dense_features
    num = len(dataset) if num is None else min(num, len(dataset))
    feats, gts, grid_gts, fgs = [], [], [], []
    bar = ProgressBar(num)
    with torch.no_grad():
        for start in range(0, num, batch_size):
            items = [dataset[i] for i in range(start, min(num, start +
                                                          batch_size))]
            x = torch.stack([it['inputs'] for it in items]).float()
            x = model.data_preprocessor(dict(inputs=x, data_samples=None),
                                        False)['inputs']
            out = dense_features(model.backbone, x, with_attention,
                                 model.cast_level)
            h, w = out['feats'].shape[-2:]
            feats.append(out['feats'].permute(0, 2, 3, 1).numpy())
            if with_attention:
                fgs.append(attention_foreground(
                    out['attention'], attention_mass).numpy())
            for it in items:
                gt = it['data_samples'].gt_sem_seg.data[0].numpy().astype(
                    np.uint8)
                gts.append(cv2.resize(gt, (eval_size, eval_size),
                                      interpolation=cv2.INTER_NEAREST))
                grid_gts.append(cv2.resize(gt, (w, h),
                                           interpolation=cv2.INTER_NEAREST))
                bar.update()
    sys.stdout.write('\n')
    return (np.concatenate(feats), np.stack(gts).astype(np.int64),
            np.stack(grid_gts).astype(np.int64),
            np.concatenate(fgs) if fgs else None)


def clustering(feats, gts, num_classes, args):
    """Hungarian / many-to-one mIoU per K (mean over seeds)."""
    import cv2
    import numpy as np

    from mmcast.evaluation.dense_clustering import (cluster_maps,
                                                    clustering_miou)
    scores = {}
    size = gts.shape[-1]
    for k in args.ks or (num_classes, 100, 500):
        mode = 'hungarian' if k == num_classes else 'many_to_one'
        runs = []
        for seed in args.seeds:
            maps = cluster_maps(feats, k, args.pca_dim, args.kmeans_iters,
                                seed)
            up = [cv2.resize(m.astype(np.int32), (size, size),
                             interpolation=cv2.INTER_NEAREST) for m in maps]
            runs.append(clustering_miou(up, list(gts), num_classes, mode,
                                        k)[0])
        scores[f'{mode}@{k}'] = float(np.mean(runs))
    return scores


def main(argv=None):
    args = parse_args(argv)
    import logging

    import numpy as np
    from mmengine.config import Config
    from mmengine.logging import MMLogger

    import mmcast  # noqa: F401
    for path in (args.config, args.data):
        if not osp.isfile(path):
            sys.exit(f'leopart_eval: no config at {path}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        sys.exit(f'leopart_eval: no checkpoint at {args.checkpoint}')
    MMLogger.get_instance('mmengine').setLevel(logging.ERROR)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    data_cfg = Config.fromfile(args.data)
    start = time.time()
    model = build_model(cfg, args.checkpoint)
    dataset = build_dataset(data_cfg, 'test', args.data_root)
    num_classes = len(dataset.metainfo['classes'])
    print(f'dense features of {args.num_images or len(dataset)} images')
    feats, gts, grid_gts, fg = extract(
        model, dataset, args.num_images, args.batch_size, args.eval_size,
        args.attention_mass, args.fully_unsupervised)
    report = dict(config=args.config, checkpoint=args.checkpoint,
                  data=args.data, num_images=len(feats),
                  grid=list(feats.shape[1:3]), eval_size=args.eval_size,
                  pca_dim=args.pca_dim, seeds=args.seeds)
    report['clustering'] = clustering(feats, gts, num_classes, args)
    if args.fully_unsupervised:
        from mmcast.evaluation.unsupervised_segmentation import \
            FullyUnsupervisedSegmentation
        train = build_dataset(data_cfg, 'train', args.data_root)
        print(f'dense features of {args.num_train_images or len(train)} '
              'training images (to tune on)')
        t_feats, _, t_grid, t_fg = extract(
            model, train, args.num_train_images, args.batch_size,
            args.eval_size, args.attention_mass, True)
        path = FullyUnsupervisedSegmentation(
            num_classes=num_classes, k_foreground=args.k_foreground,
            k_parts=args.k_parts, markov_times=args.markov_times,
            weight_thresholds=args.weight_thresholds,
            method=args.community_method, pca_dim=args.pca_dim,
            kmeans_iters=args.kmeans_iters, seed=args.community_seed)
        out = path.run(np.concatenate([t_feats, feats]),
                       np.concatenate([t_fg, fg]),
                       np.concatenate([t_grid, grid_gts]),
                       np.arange(len(t_feats) + len(feats)) < len(t_feats))
        out.pop('predictions')
        report['fully_unsupervised'] = out
    report['seconds'] = round(time.time() - start, 1)

    print(f'\n{len(feats)} images, features {feats.shape[1]}x'
          f'{feats.shape[2]}x{feats.shape[3]}; mIoU in percent')
    for name, value in report['clustering'].items():
        print(f'  clustering {name:<18}{100 * value:7.2f}')
    if args.fully_unsupervised:
        fu = report['fully_unsupervised']
        print(f'  fully unsupervised (CBFE + {args.community_method}): '
              f'{100 * fu["miou"]:.2f} ({fu["num_communities"]} '
              f'communities, k={fu["k_parts"]}, markov time '
              f'{fu["markov_time"]}, edge threshold '
              f'{fu["weight_threshold"]}, CBFE threshold '
              f'{fu["threshold"]}, foreground IoU '
              f'{100 * fu["cbfe_val_iou"]:.1f})')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'written to {args.out}')
    return report


if __name__ == '__main__':
    main()
