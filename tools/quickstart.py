# Copyright (c) mmcast contributors. All rights reserved.
"""The embedded default: generate a small procedural scene dataset, train a
small CAST segmentor on it on the CPU, test it, print the mIoU and save
pictures of a prediction and of the hierarchy.

    .venv/bin/python tools/quickstart.py [--work-dir work_dirs/quickstart]
        [--data-root data/toy_scenes] [--iters 1200] [--checkpoint CKPT]
        [--debug]

``--checkpoint`` skips training: it tests that checkpoint and draws its
pictures.  Errors end the run with one line (``--debug``: the traceback).
"""
import argparse
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmcast.apis import build_runner, load_config  # noqa: E402
from mmcast.datasets import generate_toy_scenes  # noqa: E402
from mmcast.utils import add_cli_flags, run_cli  # noqa: E402

CONFIG = osp.join(ROOT, 'configs', 'cast_toy_scenes.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument('--data-root', default='data/toy_scenes')
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (config default: 1200)')
    parser.add_argument('--checkpoint',
                        help='test and draw this checkpoint of the toy '
                        'config instead of training')
    add_cli_flags(parser, verbose=False)
    return parser.parse_args()


def chance_miou(cfg):
    """Expected mIoU (%) of uniformly random labels on the val split."""
    import cv2
    import numpy as np
    ds = cfg.test_dataloader.dataset
    ann_dir = osp.join(ds.data_root, ds.data_prefix.seg_map_path)
    num_classes = cfg.model.decode_head.num_classes
    hist = np.zeros(num_classes)
    for name in os.listdir(ann_dir):
        lab = cv2.imread(osp.join(ann_dir, name), cv2.IMREAD_UNCHANGED)
        lab = lab.astype(np.int64) - 1  # reduce_zero_label
        hist += np.bincount(lab[lab >= 0], minlength=num_classes)
    p = hist / hist.sum()
    k = 1. / num_classes
    return 100 * np.mean(p * k / (p + k - p * k))


def save_pictures(cfg, checkpoint, out_dir):
    """A predicted segmentation and the hierarchy of one validation image."""
    import cv2
    import numpy as np
    from mmseg.apis import inference_model, init_model

    from mmcast.apis import inference_hierarchy
    from mmcast.visualization import HierarchyVisualizer, segmentation_panel

    ds = cfg.test_dataloader.dataset
    img_dir = osp.join(ds.data_root, ds.data_prefix.img_path)
    name = sorted(os.listdir(img_dir))[0]
    img_path = osp.join(img_dir, name)
    model = init_model(cfg, checkpoint, device='cpu')
    pred = inference_model(model, img_path).pred_sem_seg.data[0].numpy()
    meta = model.dataset_meta
    img = cv2.imread(img_path)[..., ::-1]
    gt_path = osp.join(ds.data_root, ds.data_prefix.seg_map_path,
                       osp.splitext(name)[0] + '.png')
    gt = cv2.imread(gt_path, cv2.IMREAD_UNCHANGED).astype(np.int64) - 1
    # image | prediction | ground truth (black: ignored), titles, legend
    panel = segmentation_panel(img, pred, meta['classes'], meta['palette'],
                               gt=gt, min_height=384)
    pred_path = osp.join(out_dir, 'prediction.png')
    cv2.imwrite(pred_path, np.ascontiguousarray(panel[..., ::-1]))
    hier = inference_hierarchy(model, img_path)
    panel = HierarchyVisualizer(name=f'quickstart_h_{time.time()}').draw_panel(
        np.ascontiguousarray(img), hier)
    hier_path = osp.join(out_dir, 'hierarchy.png')
    cv2.imwrite(hier_path, np.ascontiguousarray(panel[..., ::-1]))
    return [pred_path, hier_path]


def main():
    args = parse_args()
    start = time.time()
    generate_toy_scenes(args.data_root, progress=True)
    options = {
        'train_dataloader.dataset.data_root': args.data_root,
        'val_dataloader.dataset.data_root': args.data_root,
        'test_dataloader.dataset.data_root': args.data_root,
    }
    if args.iters is not None:
        options.update({
            'train_cfg.max_iters': args.iters,
            'train_cfg.val_interval': args.iters,
            'default_hooks.checkpoint.interval': args.iters,
            'param_scheduler.1.end': args.iters,
        })
    cfg = load_config(CONFIG, options, args.work_dir)
    # Evaluate once, with runner.test() below.
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if args.checkpoint:
        checkpoint = cfg.load_from = args.checkpoint
        runner = build_runner(cfg, mode='test')  # checks the checkpoint
    else:
        runner = build_runner(cfg)
        runner.train()
        checkpoint = osp.join(cfg.work_dir, 'iter_{}.pth'.format(
            cfg.train_cfg.max_iters))
    metrics = runner.test()
    pictures = save_pictures(cfg, checkpoint, cfg.work_dir)
    done = f'tested {checkpoint}' if args.checkpoint else \
        f'trained {cfg.train_cfg.max_iters} iterations and tested'
    print(f'\nquickstart: {done} in {time.time() - start:.0f} s')
    print(f"quickstart: mIoU {metrics['mIoU']:.2f} on {args.data_root} "
          f'validation (uniformly random labels would score '
          f'{chance_miou(cfg):.2f})')
    for p in pictures:
        print(f'quickstart: saved {p}')


if __name__ == '__main__':
    run_cli(main)
