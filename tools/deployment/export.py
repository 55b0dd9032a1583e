# Copyright (c) mmcast contributors. All rights reserved.
"""Export the CAST backbone of a config with torch.export (and to ONNX).

    python tools/deployment/export.py CONFIG [--checkpoint CKPT]
        [--shape 224 224] [--stride 16] [--batch 1] [--onnx]
        [--out-dir work_dirs/export] [--atol 1e-4]

The program is exported at a fixed input size and superpixel count: it
takes ``(img, superpixels)`` with labels ``0..N-1``, every id present, for
``N = ceil(H / stride) * ceil(W / stride)`` (grid superpixels of that
size always qualify).  It is saved as ``cast_backbone.pt2``
(``torch.export.load``) and, with ``--onnx``, ``cast_backbone.onnx``.  Both
are checked against the eager backbone on new random images, with the grid
map and with a shuffled labelling of it; ``export.json`` records the
largest differences.  Exit status 1 when the backbone cannot be exported
(the message names the operation) or a difference exceeds ``--atol``.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='an mmseg or mmpretrain CAST config')
    parser.add_argument('--checkpoint', help='weights of the whole model')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'))
    parser.add_argument('--stride', type=int, default=16,
                        help='superpixel grid step: N = ceil(H/s)*ceil(W/s)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--onnx', action='store_true',
                        help='also write and check an ONNX file')
    parser.add_argument('--out-dir', default='work_dirs/export')
    parser.add_argument('--atol', type=float, default=1e-4)
    return parser.parse_args()


def build_backbone(config, checkpoint=None):
    """The CAST backbone of a config (weights from ``checkpoint``, else
    its initialisation with seed 0)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint

    import mmcast  # noqa: F401
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmseg')
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    else:
        from mmseg.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:
        model.init_weights()
    return model.backbone.eval()


def onnx_runner(path):
    """A function running the ONNX file: onnxruntime when installed, else
    onnx's reference evaluator."""
    import onnx
    try:
        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        names = [i.name for i in session.get_inputs()]
        return lambda *xs: session.run(None, dict(zip(names, xs)))
    except ImportError:
        from onnx.reference import ReferenceEvaluator
        model = onnx.load(path)
        session = ReferenceEvaluator(model)
        names = [i.name for i in model.graph.input]
        return lambda *xs: session.run(None, dict(zip(names, xs)))


def check_inputs(img_size, stride, batch):
    """New images with the grid map and with a shuffled labelling of it."""
    from mmcast.deployment import export_inputs
    img, grid = export_inputs(img_size, stride, batch, seed=1)
    shuffled = torch.randperm(int(grid.max()) + 1,
                              generator=torch.Generator().manual_seed(2))
    return {'grid': (img, grid), 'shuffled labels': (img, shuffled[grid])}


def main():
    args = parse_args()
    from torch.utils._pytree import tree_leaves

    from mmcast.deployment import (export_backbone, export_inputs,
                                   export_onnx, max_abs_difference)
    backbone = build_backbone(args.config, args.checkpoint)
    img, superpixels = export_inputs(tuple(args.shape), args.stride,
                                     args.batch)
    num_superpixels = int(superpixels.max()) + 1
    try:
        program = export_backbone(backbone, img, superpixels)
    except RuntimeError as e:
        print(e)
        sys.exit(1)
    os.makedirs(args.out_dir, exist_ok=True)
    pt2 = osp.join(args.out_dir, 'cast_backbone.pt2')
    torch.export.save(program, pt2)
    program = torch.export.load(pt2)
    summary = dict(config=args.config, shape=args.shape, batch=args.batch,
                   num_superpixels=num_superpixels, files=[pt2],
                   max_abs_difference={})
    cases = check_inputs(tuple(args.shape), args.stride, args.batch)
    for name, (x, sp) in cases.items():
        summary['max_abs_difference'][f'torch.export, {name}'] = \
            max_abs_difference(program, backbone, x, sp)
    if args.onnx:
        path = export_onnx(program, osp.join(args.out_dir,
                                             'cast_backbone.onnx'))
        summary['files'].append(path)
        run = onnx_runner(path)
        for name, (x, sp) in cases.items():
            with torch.no_grad():
                eager = tree_leaves(backbone(x, sp))
            got = run(x.numpy(), sp.numpy())
            summary['max_abs_difference'][f'ONNX, {name}'] = max(
                float((e.double() - torch.from_numpy(g).double()).abs().max())
                for e, g in zip(eager, got))
    print(f'CAST backbone exported at {args.shape[0]}x{args.shape[1]}, '
          f'batch {args.batch}, {num_superpixels} superpixels: '
          + ', '.join(summary['files']))
    print(f"{'check':40s} max |exported - eager|")
    for name, diff in summary['max_abs_difference'].items():
        print(f'{name:40s} {diff:.3g}')
    with open(osp.join(args.out_dir, 'export.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    worst = max(summary['max_abs_difference'].values())
    if worst > args.atol:
        print(f'largest difference {worst:.3g} exceeds --atol {args.atol}')
        sys.exit(1)


if __name__ == '__main__':
    main()
