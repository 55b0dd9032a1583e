# Copyright (c) mmcast contributors. All rights reserved.
import sys
from typing import Optional

from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from mmcast.registry import register_hook


@register_hook
class ProgressBarHook(Hook):
    """A progress bar over the images of an evaluation (validation and
    test loops; registered in mmseg and mmpretrain; ``tools/test.py`` and
    the quickstart add it).

    mmengine logs an evaluation every ``LoggerHook.interval`` iterations
    only (once for the 50 images of the toy scenes); the bar shows where
    it is and its ETA.

    Args:
        enabled (bool, optional): draw the bar; by default only when the
            output is a terminal (a log file gets no carriage returns).
        file: where to draw. Defaults to ``sys.stdout``.
    """

    priority = 'VERY_LOW'

    def __init__(self, enabled: Optional[bool] = None, file=None):
        self.file = file or sys.stdout
        self.enabled = enabled
        self._bar = None

    def _on(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        return hasattr(self.file, 'isatty') and self.file.isatty()

    @master_only
    def _start(self, runner, loop) -> None:
        if not self._on():
            return
        total = len(loop.dataloader)
        self.file.write(f'evaluating {total} batches\n')
        self._bar = ProgressBar(total, file=self.file)

    def _update(self) -> None:
        if self._bar is not None:
            self._bar.update()

    @master_only
    def _finish(self) -> None:
        if self._bar is not None:
            self.file.write('\n')
            self.file.flush()
            self._bar = None

    def before_val_epoch(self, runner) -> None:
        self._start(runner, runner.val_loop)

    def before_test_epoch(self, runner) -> None:
        self._start(runner, runner.test_loop)

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        self._update()

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        self._update()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._finish()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._finish()
