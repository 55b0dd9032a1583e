# Copyright (c) mmcast contributors. All rights reserved.
"""Evaluate a checkpoint with an mmseg or mmpretrain config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR|FILE.pkl]
        [--show] [--show-dir DIR] [--wait-time S] [--tta]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
        [--debug]

CHECKPOINT is a file or any URL mmengine loads (``http(s)://``, ``s3://``
and the other storage backends, ``torchvision://``...).  A missing, damaged
or unfitting checkpoint ends the run with one line (``--debug`` shows the
traceback).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmcast.apis.launch import (add_launch_args, build_runner,  # noqa: E402
                                finish_distributed, load_config,
                                parse_launch_args)
from mmcast.utils import add_cli_flags, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test a CAST model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='a .pkl file: dump every prediction (data samples with '
        'scores / logits); otherwise (segmentation) a directory for the '
        'predicted maps')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument(
        '--show-dir', help='directory where painted predictions are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    add_launch_args(parser)
    add_cli_flags(parser, verbose=False)
    return parse_launch_args(parser)


def trigger_visualization_hook(cfg, args):
    hooks = cfg.get('default_hooks', {})
    hook = hooks.get('visualization')
    if hook is None:
        raise KeyError('the config has no default_hooks.visualization; '
                       '--show/--show-dir need one')
    if cfg.get('default_scope') == 'mmpretrain':
        hook['enable'] = True
        hook['show'] = args.show
        hook['wait_time'] = args.wait_time
        if args.show_dir:
            hook['out_dir'] = args.show_dir
        return
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def main():
    args = parse_args()
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'no checkpoint at {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError('--tta needs tta_model and tta_pipeline in the '
                           'config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    dump = args.out is not None and args.out.endswith(('.pkl', '.pickle'))
    if args.out is not None and not dump:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    runner = build_runner(cfg, mode='test')
    if dump:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    runner.test()
    del runner  # it holds the process group (see finish_distributed)
    finish_distributed()


if __name__ == '__main__':
    run_cli(main)
