# Copyright (c) mmcast contributors. All rights reserved.
"""The embedded default: generate a small procedural scene dataset, train a
small CAST segmentor on it on the CPU, test it, print the mIoU and save
pictures of a prediction and of the hierarchy.

    .venv/bin/python tools/quickstart.py [--work-dir work_dirs/quickstart]
        [--data-root data/toy_scenes] [--iters 1200] [--checkpoint CKPT]
        [--threads 1]
        [--verbose] [--debug]

The screen shows one progress bar per phase (data, training, test) and the
result.  mmengine's full log (config, environment, losses, the per-class
IoU table) and the libraries' warnings go to the run's log file in the
work dir, whose path is printed; ``--verbose`` prints all of it on the
screen instead.  ``--checkpoint`` skips training: it tests that checkpoint
and draws its pictures.  Errors end the run with one line (``--debug``:
the traceback).
"""
import argparse
import contextlib
import io
import os
import os.path as osp
import sys
import time
import warnings

START = time.time()  # the figures count from here, imports included
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIG = osp.join(ROOT, 'configs', 'cast_toy_scenes.py')


def parse_args():
    from mmcast.utils import add_cli_flags
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument('--data-root', default='data/toy_scenes')
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (config default: 1200)')
    parser.add_argument('--checkpoint',
                        help='test and draw this checkpoint of the toy '
                        'config instead of training')
    parser.add_argument('--threads', type=int, default=1,
                        help="torch's CPU threads (default 1: on a 2-core "
                        'machine shared with other jobs one thread trained '
                        'about four times faster than two; 0 keeps '
                        "torch's default)")
    parser.add_argument('--verbose', action='store_true',
                        help="print mmengine's log and the libraries' "
                        'warnings on the screen instead of progress bars')
    add_cli_flags(parser, verbose=False)
    return parser.parse_args()


class _Discard(io.TextIOBase):
    """A text stream that keeps nothing."""

    def write(self, text):
        return len(text)


class _LogLines(io.TextIOBase):
    """A text stream whose lines go to a logger (INFO)."""

    def __init__(self, logger):
        self.logger = logger
        self._partial = ''

    def write(self, text):
        lines = (self._partial + text).split('\n')
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.logger.info(line)
        return len(text)


class QuietConsole:
    """Keep the screen for the progress bars and the result.

    From its creation, warnings raised outside mmcast (deprecations in
    mmengine, mmseg, torch...) are held back, and written to the run's log
    once :meth:`attach` gives it the runner's logger.  While the runner is
    built (:meth:`building`), the screen handler mmengine's logger gets
    discards (its file handler keeps everything); while it runs
    (:meth:`running`), anything printed goes to the log file.  Used as a
    context manager, it gives the warnings back to Python at the end.
    """

    def __init__(self):
        self._logger = None
        self._held = []
        self._show_warning = warnings.showwarning
        warnings.showwarning = self._warning

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        warnings.showwarning = self._show_warning

    def _warning(self, message, category, filename, lineno, file=None,
                 line=None):
        path = osp.abspath(filename)
        if any(path.startswith(osp.join(ROOT, d) + os.sep)
               for d in ('mmcast', 'tools')):
            self._show_warning(message, category, filename, lineno, file,
                               line)
            return
        text = warnings.formatwarning(message, category, filename, lineno,
                                      line).rstrip()
        if self._logger is None:
            self._held.append(text)
        else:
            self._logger.warning(text)

    @contextlib.contextmanager
    def building(self):
        with contextlib.redirect_stdout(_Discard()):
            yield

    def attach(self, logger):
        self._logger = logger
        for text in self._held:
            logger.warning(text)
        self._held = []

    @contextlib.contextmanager
    def running(self):
        with contextlib.redirect_stdout(_LogLines(self._logger)):
            yield


def format_duration(seconds):
    """``75`` -> ``'1 min 15 s'``, ``9`` -> ``'9 s'``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds} s'
    return f'{seconds // 60} min {seconds % 60:02d} s'


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


def main(quiet=None):
    """Run the quickstart.

    Args:
        quiet (QuietConsole, optional): made before mmcast was imported, so
            that import-time warnings reach the log too (the script does);
            made here otherwise, unless ``--verbose``.
    """
    args = parse_args()
    if quiet is None and not args.verbose:
        quiet = QuietConsole()
    with quiet or contextlib.nullcontext():
        return run(args, quiet)


def run(args, quiet):
    import torch

    from mmcast.apis import build_runner, load_config
    from mmcast.datasets import generate_toy_scenes
    from mmcast.engine import ProgressBarHook

    if quiet is not None:
        done = 'tests a checkpoint' if args.checkpoint else 'trains and tests'
        print(f'quickstart: a small CAST on procedural scenes; {done} it')
    if args.threads < 0:
        raise ValueError(f'--threads must be >= 0, got {args.threads}')
    if args.threads:
        torch.set_num_threads(args.threads)
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
    mode = 'test' if args.checkpoint else 'train'
    if args.checkpoint:
        cfg.load_from = args.checkpoint
    if quiet is None:
        runner = build_runner(cfg, mode)  # test mode checks the checkpoint
        running = contextlib.nullcontext()
    else:
        with quiet.building():
            runner = build_runner(cfg, mode)
        quiet.attach(runner.logger)
        print('quickstart: full log in ' + osp.join(
            runner.log_dir, f'{runner.timestamp}.log'))
        # Made here, on the screen: the ProgressBarHook build_runner added
        # was made while the screen was held back, and draws nothing.
        runner.register_hook(ProgressBarHook(enabled=True, train=True))
        running = quiet.running()
    with running:
        train_start = time.time()
        if args.checkpoint:
            checkpoint = args.checkpoint
        else:
            runner.train()
            checkpoint = osp.join(cfg.work_dir, 'iter_{}.pth'.format(
                cfg.train_cfg.max_iters))
        test_start = time.time()
        metrics = runner.test()
        test_end = time.time()
        pictures = save_pictures(cfg, checkpoint, cfg.work_dir)
    if args.checkpoint:
        done = (f'tested {checkpoint} in '
                f'{format_duration(test_end - test_start)}')
    else:
        done = (f'trained {cfg.train_cfg.max_iters} iterations in '
                f'{format_duration(test_start - train_start)}, tested in '
                f'{format_duration(test_end - test_start)}')
    print(f'\nquickstart: {done}; {format_duration(time.time() - START)} '
          'in all')
    print(f"quickstart: mIoU {metrics['mIoU']:.2f} on {args.data_root} "
          f'validation (uniformly random labels would score '
          f'{chance_miou(cfg):.2f})')
    for p in pictures:
        print(f'quickstart: saved {p}')


if __name__ == '__main__':
    # Before mmcast (and mmseg, mmengine...) is imported: the warnings of
    # their imports go to the run's log, not to the screen.
    QUIET = None if '--verbose' in sys.argv[1:] else QuietConsole()
    from mmcast.utils import run_cli
    run_cli(lambda: main(QUIET))
