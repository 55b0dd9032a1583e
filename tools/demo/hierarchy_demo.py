# Copyright (c) mmcast contributors. All rights reserved.
"""Show CAST's part-whole hierarchy of one image.

Writes, under ``--out-dir``:

- ``hierarchy.png``: the image and the levels side by side, coloured so
  that every part has the hue of the whole it belongs to;
- ``level_{l}.png`` for every level ``l``: a uint16 label map at the image's
  resolution (level 0 = superpixels, the last = coarsest segments).

For a classifier it also prints the class scores of the same forward pass.

Example::

    python tools/demo/hierarchy_demo.py demo.jpg configs/cast_s_ade20k.py \\
        --checkpoint cast_s_ade20k.pth --clusters 64 32 16 8 \\
        --out-dir work_dirs/hierarchy
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np
from mmengine.config import DictAction

from mmcast.utils import add_cli_flags, quiet_logs, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Draw and save a CAST model's part-whole hierarchy")
    parser.add_argument('image', help='image file (any size; grayscale, '
                        'colour or RGBA)')
    parser.add_argument('config', help='mmseg or mmpretrain config of a '
                        'CAST model')
    parser.add_argument('--checkpoint', help='weights (random without)')
    parser.add_argument('--out-dir', required=True,
                        help='where hierarchy.png and level_*.png go')
    parser.add_argument('--levels', type=int, nargs='+',
                        help='levels to draw in the panel (0 = superpixels; '
                        'negative counts from the coarsest); all by default')
    parser.add_argument('--clusters', type=int, nargs='+',
                        help='clusters per stage for this run, one count per '
                        'stage (the config\'s by default)')
    parser.add_argument('--no-contours', action='store_true',
                        help='do not draw superpixel contours')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--topk', type=int, default=5,
                        help='class scores to print (classifiers)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides, key=value')
    add_cli_flags(parser)
    return parser.parse_args(argv)


def save_levels(levels, out_dir):
    """Write each level as a uint16 PNG; return the paths."""
    paths = []
    for i, level in enumerate(levels):
        if level.min() < 0 or level.max() > np.iinfo(np.uint16).max:
            raise ValueError(f'level {i} labels span [{level.min()}, '
                             f'{level.max()}], not storable as uint16')
        path = osp.join(out_dir, f'level_{i}.png')
        if not cv2.imwrite(path, level.astype(np.uint16)):
            raise OSError(f'could not write {path}')
        paths.append(path)
    return paths


def main(argv=None):
    args = parse_args(argv)
    quiet_logs(args.verbose)
    from mmcast.apis import inference_hierarchy, init_model, load_image
    from mmcast.visualization import HierarchyVisualizer

    if not osp.isfile(args.image):
        sys.exit(f'error: no image file at {args.image}')
    if args.checkpoint is None:
        print('No --checkpoint given: the weights are RANDOM, so the '
              'hierarchy and any class scores are not meaningful (the '
              'demo still runs).')
    elif not osp.isfile(args.checkpoint):
        sys.exit(f'error: no checkpoint file at {args.checkpoint}')
    model = init_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    try:
        result = inference_hierarchy(model, args.image,
                                     num_clusters=args.clusters)
    except ValueError as e:
        sys.exit(f'error: {e}')
    n_levels = result.num_levels
    if args.levels and any(not -n_levels <= lv < n_levels
                           for lv in args.levels):
        sys.exit(f'error: --levels {args.levels}: the model has levels '
                 f'0..{n_levels - 1}')

    os.makedirs(args.out_dir, exist_ok=True)
    image = load_image(args.image)[..., ::-1]  # RGB for drawing
    visualizer = HierarchyVisualizer()
    panel_path = osp.join(args.out_dir, 'hierarchy.png')
    visualizer.add_datasample(
        'hierarchy', image, result, out_file=panel_path,
        levels=args.levels, with_contours=not args.no_contours)
    paths = save_levels(result.levels, args.out_dir)

    H, W = result.ori_shape
    h, w = result.input_shape
    print(f'image {W}x{H}, network input {w}x{h}, clusters per stage '
          f'{result.num_clusters}')
    for i, level in enumerate(result.levels):
        kind = 'superpixels' if i == 0 else 'segments'
        print(f'level {i}: {len(np.unique(level))} {kind} -> {paths[i]}')
    print(f'panel -> {panel_path}')
    if result.scores is not None:
        print(f'class scores (top-{args.topk}):')
        for rank, (idx, score, name) in enumerate(
                result.topk(args.topk), 1):
            label = f'{name} ({idx})' if name is not None else f'class {idx}'
            print(f'  {rank}. {label}: {score:.4f}')
    return result


if __name__ == '__main__':
    run_cli(main)
