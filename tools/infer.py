# Copyright (c) mmcast contributors. All rights reserved.
"""Predictions and part-whole hierarchies of a CAST model for an image, a
folder of images or several files (``mmcast.apis.CASTInferencer``).

    python tools/infer.py INPUT [INPUT ...] CONFIG --checkpoint CKPT
        [--out-dir outputs] [--batch-size 4] [--show] [--wait-time 0]
        [--clusters 64 32 16 8] [--levels 0 -1] [--device cpu]
        [--verbose] [--debug]

Writes, under ``--out-dir``: ``vis/{name}_pred.png`` (the image beside the
predicted segmentation with a class legend, or the image with its best
classes) and ``vis/{name}_hierarchy.png`` (the image and the hierarchy's
levels); ``pred/{name}.json``, ``pred/{name}_sem_seg.png`` (segmentors)
and ``pred/{name}_level_{l}.png`` (uint16 label maps).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmcast.utils import add_cli_flags, quiet_logs, run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('inputs', nargs='+',
                        help='image files or folders, then the config')
    parser.add_argument('--checkpoint', help='weights (random without)')
    parser.add_argument('--out-dir', default='outputs',
                        help='where vis/ and pred/ go (default: outputs)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per forward pass')
    parser.add_argument('--show', action='store_true',
                        help='show the pictures in a window')
    parser.add_argument('--wait-time', type=float, default=0,
                        help='seconds a window stays (0: until a key)')
    parser.add_argument('--clusters', type=int, nargs='+',
                        help='clusters per stage (the config\'s by default)')
    parser.add_argument('--levels', type=int, nargs='+',
                        help='hierarchy levels to draw (all by default)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    add_cli_flags(parser)
    args = parser.parse_args(argv)
    if len(args.inputs) < 2:
        parser.error('give at least one image or folder, then the config')
    *args.inputs, args.config = args.inputs
    return args


def main(argv=None):
    args = parse_args(argv)
    quiet_logs(args.verbose)
    from mmcast.apis import CASTInferencer
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'no config file at {args.config}')
    if args.checkpoint is None:
        print('No --checkpoint given: the weights are RANDOM, so the '
              'predictions and hierarchies are not meaningful.')
    inferencer = CASTInferencer(args.config, args.checkpoint, args.device)
    inputs = []
    for item in args.inputs:
        inputs.extend(inferencer._inputs_to_list(item))
    out = inferencer(inputs, batch_size=args.batch_size, show=args.show,
                     wait_time=args.wait_time, out_dir=args.out_dir,
                     num_clusters=args.clusters, levels=args.levels)
    for pred in out['predictions']:
        counts = [len(set(lv.ravel().tolist()))
                  for lv in pred['hierarchy'].levels]
        what = f"class {pred['pred_label']}" + (
            f" ({pred['pred_class']})" if pred.get('pred_class') else '') \
            if 'pred_label' in pred else \
            f"{len(set(pred['sem_seg'].ravel().tolist()))} classes"
        print(f"{pred['name']}: {what}; segments per level {counts}")
    print(f"{len(out['predictions'])} images -> "
          f"{osp.join(args.out_dir, 'vis')}, {osp.join(args.out_dir, 'pred')}")
    return out


if __name__ == '__main__':
    run_cli(main)
