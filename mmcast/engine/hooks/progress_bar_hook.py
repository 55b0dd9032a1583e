# Copyright (c) mmcast contributors. All rights reserved.
"""Progress bars for a run: one per phase (training, validation, test).

On a terminal each bar is redrawn in place; elsewhere (a CI log, a file)
it is printed once, in its final state, when its phase ends.  The bars
use rich, which mmengine already depends on.
"""
import sys
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                           TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from mmcast.registry import register_hook


class PhaseBar:
    """One progress line for one phase of a run, used as a context manager.

    ``training  ━━━━━━━━━━━━━━╸━━━━━━━━━  480/1200 it  0:01:02 < 0:01:33
    loss 0.412``

    Args:
        description (str): the phase, e.g. ``'training'``.
        total (int, optional): steps in the phase (``None``: not known
            yet, see :meth:`update`).
        unit (str): what a step is (``'it'``, ``'images'``).
        console (rich.console.Console, optional): where the bar is drawn.
            Defaults to a console on the ``sys.stdout`` of the moment the
            bar is made (so a later redirection of ``sys.stdout`` does not
            capture it).
    """

    def __init__(self, description: str, total: Optional[int],
                 unit: str = 'it',
                 console: Optional[Console] = None):
        self.progress = Progress(
            TextColumn('{task.description:<10}'),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            TextColumn('<'),
            TimeRemainingColumn(),
            TextColumn('{task.fields[info]}'),
            console=console or Console(file=sys.stdout),
            # Everything else printed meanwhile must not be drawn above
            # the bar: whoever runs the bar decides where it goes.
            redirect_stdout=False,
            redirect_stderr=False)
        self.task = self.progress.add_task(description, total=total, info='')

    def __enter__(self) -> 'PhaseBar':
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, completed: int, info: Optional[str] = None,
               total: Optional[int] = None) -> None:
        """Set the number of steps done (and the text after the bar, and
        the number of steps when it was not known at the start)."""
        fields = {} if info is None else {'info': info}
        if total is not None:
            fields['total'] = total
        self.progress.update(self.task, completed=completed, **fields)

    def advance(self, steps: int = 1, info: Optional[str] = None) -> None:
        """Count ``steps`` more steps done."""
        fields = {} if info is None else {'info': info}
        self.progress.update(self.task, advance=steps, **fields)


@register_hook
class ProgressBarHook(Hook):
    """A :class:`PhaseBar` over each evaluation (validation and test
    loops, in batches) and, with ``train=True``, over the training
    iterations, with the loss averaged over the last ``loss_window``
    iterations.  Registered in mmseg and mmpretrain;
    :func:`mmcast.apis.build_runner` adds it to every run.

    mmengine logs an evaluation every ``LoggerHook.interval`` iterations
    only (once for the 50 images of the toy scenes); the bar shows where
    it is and its time left.  Validation inside training gets a bar of its
    own: the training bar is closed at the validation and a new one
    continues after it.

    Args:
        enabled (bool, optional): draw the bars; by default only when
            ``file`` is a terminal (a log file gets no bars).
        file: where to draw. Defaults to the ``sys.stdout`` of the moment
            the hook is made.
        train (bool): also a bar over training.  Off by default: tools
            that train print mmengine's log on the same screen, which would
            cut through the bar (the quickstart, whose log goes to a file,
            turns it on).
        loss_window (int): iterations the shown loss is averaged over.
    """

    priority = 'VERY_LOW'  # after RuntimeInfoHook has stored the loss

    def __init__(self, enabled: Optional[bool] = None, file=None,
                 train: bool = False, loss_window: int = 20):
        self.file = file or sys.stdout
        self.enabled = enabled
        self.train = train
        self.loss_window = loss_window
        self._console = None
        self._bar = None
        self._training = False

    def _on(self) -> bool:
        if not is_main_process():
            return False
        if self.enabled is not None:
            return self.enabled
        return hasattr(self.file, 'isatty') and self.file.isatty()

    def _open(self, description: str, total: int, unit: str) -> None:
        self._close()
        if not self._on():
            return
        if self._console is None:
            self._console = Console(file=self.file)
        self._bar = PhaseBar(description, total, unit, self._console)
        self._bar.__enter__()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def _open_training(self, runner) -> None:
        if self.train and self._training:
            self._open('training', runner.max_iters, 'it')
            if self._bar is not None:
                self._bar.update(runner.iter)

    def before_train(self, runner) -> None:
        self._training = True
        self._open_training(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self._bar is None:
            return
        info = None
        hub = runner.message_hub
        if 'train/loss' in hub.log_scalars:
            loss = hub.get_scalar('train/loss').mean(self.loss_window)
            info = f'loss {loss:.3f}'
        self._bar.update(runner.iter + 1, info)

    def after_train(self, runner) -> None:
        self._training = False
        self._close()

    def before_val_epoch(self, runner) -> None:
        self._open('validation', len(runner.val_loop.dataloader), 'batches')

    def before_test_epoch(self, runner) -> None:
        self._open('test', len(runner.test_loop.dataloader), 'batches')

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        if self._bar is not None:
            self._bar.advance()

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        if self._bar is not None:
            self._bar.advance()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close()
        if runner.iter < runner.max_iters:
            self._open_training(runner)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close()
