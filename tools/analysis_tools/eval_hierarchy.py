# Copyright (c) mmcast contributors. All rights reserved.
"""Measure a hierarchy (CAST, or the ViT + k-means baseline) on a dataset.

    python tools/analysis_tools/eval_hierarchy.py CONFIG [CHECKPOINT]
        [--out FILE.json] [--num-images N] [--cfg-options k=v ...]

CONFIG is a hierarchy evaluation config (``configs/hierarchy/``): a
``HierarchySegmentor`` or ``ViTKMeansHierarchy`` model, a
``test_dataloader`` and a ``test_evaluator`` of hierarchy metrics
(``HierarchyMetric``, ``ClusteringMetric``, ``SegmentRetrievalMetric``).
CHECKPOINT is any checkpoint whose ``backbone.*`` weights fit the model
(a CAST segmentor's or classifier's, a converted release file, a ViT); the
heads it holds are ignored.  Without a checkpoint the model keeps its random
initialisation (e.g. "untrained CAST": superpixels alone).

Prints a table in the manner of the paper's Table 1 (region mIoU and
boundary F per target and level) and writes every metric to JSON.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Evaluate the hierarchy of CAST or of a ViT + k-means')
    parser.add_argument('config', help='hierarchy evaluation config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='weights (backbone.* are used)')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--num-images', type=int, default=None,
                        help='evaluate the first N images only')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def format_table(metrics: dict) -> str:
    """Rows ``target (segments)``, columns region mIoU / boundary F / P / R.

    Keys look like ``object/mIoU@8`` (prefix = target); keys of other
    metrics (clustering) are listed below the table.
    """
    rows, other = {}, {}
    for key, value in metrics.items():
        prefix, _, name = key.rpartition('/')
        measure, at, level = name.partition('@')
        if at and measure in ('mIoU', 'bF', 'bP', 'bR'):
            rows.setdefault((prefix or '-', level), {})[measure] = value
        elif measure in ('mIoU', 'bF', 'bP', 'bR'):
            rows.setdefault((prefix or '-', '-'), {})[measure] = value
        else:
            other[key] = value
    lines = [f'{"target":<12}{"segments":>9}{"region mIoU":>13}'
             f'{"boundary F":>12}{"bound. P":>10}{"bound. R":>10}']
    for (prefix, level), vals in rows.items():
        cells = ''.join(f'{vals.get(k, float("nan")):>{w}.2f}'
                        for k, w in (('mIoU', 13), ('bF', 12), ('bP', 10),
                                     ('bR', 10)))
        lines.append(f'{prefix:<12}{level:>9}{cells}')
    lines += [f'{k}: {v}' for k, v in other.items()]
    return '\n'.join(lines)


def evaluate(cfg, checkpoint=None, num_images=None, device='cpu',
             progress=True) -> dict:
    """Run the config's test dataloader through the model and its
    evaluator; return the metrics."""
    import torch
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    from mmengine.utils import ProgressBar

    from mmcast.apis import init_model
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_model(cfg, checkpoint, device=device)
    loader_cfg = cfg.test_dataloader.copy()
    loader = Runner.build_dataloader(loader_cfg)
    dataset = loader.dataset
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    total = len(dataset) if num_images is None else min(num_images,
                                                        len(dataset))
    bar = ProgressBar(total) if progress else None
    seen = 0
    with torch.no_grad():
        for data in loader:
            outputs = model.test_step(data)
            evaluator.process(outputs, data)
            seen += len(outputs)
            if bar is not None:
                for _ in outputs:
                    bar.update()
            if seen >= total:
                break
    if bar is not None:
        sys.stdout.write('\n')
    return evaluator.evaluate(seen), seen


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    if not osp.isfile(args.config):
        sys.exit(f'eval_hierarchy: no config at {args.config}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        sys.exit(f'eval_hierarchy: no checkpoint at {args.checkpoint}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    import mmcast  # noqa: F401
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    start = time.time()
    metrics, seen = evaluate(cfg, args.checkpoint, args.num_images,
                             args.device)
    seconds = time.time() - start
    model = cfg.model.type
    print(f'\n{model} on {seen} images ({seconds:.1f} s); percent')
    print(format_table(metrics))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           model=model, num_images=seen,
                           seconds=round(seconds, 1), metrics=metrics), f,
                      indent=2)
        print(f'metrics written to {args.out}')
    return metrics


if __name__ == '__main__':
    main()
