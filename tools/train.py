# Copyright (c) mmcast contributors. All rights reserved.
"""Train a model from an mmseg or mmpretrain config (one entry point; the
config's ``default_scope`` picks the registries).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmcast.apis.launch import (add_launch_args, build_runner,  # noqa: E402
                                enable_amp, finish_distributed, load_config,
                                parse_launch_args)
from mmcast.utils import add_cli_flags, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a CAST model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (float16 on a GPU, bfloat16 on the '
        'CPU)')
    add_launch_args(parser)
    add_cli_flags(parser, verbose=False)
    return parse_launch_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    runner = build_runner(cfg)
    runner.train()
    del runner  # it holds the process group (see finish_distributed)
    finish_distributed()


if __name__ == '__main__':
    run_cli(main)
