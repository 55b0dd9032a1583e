# Copyright (c) mmcast contributors. All rights reserved.
"""What mmcast's command-line tools share: one-line errors (a traceback
only with ``--debug``) and quiet logs (mmengine's INFO lines only with
``--verbose``)."""
import logging
import os.path as osp
import sys
import warnings
from typing import Callable, Optional, Sequence


def add_cli_flags(parser, verbose: bool = True) -> None:
    """Add ``--debug`` (and ``--verbose``) to a tool's parser."""
    parser.add_argument(
        '--debug', action='store_true',
        help='on an error, show the full traceback instead of one line')
    if verbose:
        parser.add_argument(
            '--verbose', action='store_true',
            help="show mmengine's INFO logs (weight initialisation, "
            'checkpoint loading)')


def quiet_logs(verbose: bool = False) -> None:
    """Show mmengine's logs from WARNING up only, and no deprecation
    notices of the OpenMMLab packages, unless ``verbose``.

    mmengine prints the initialiser of every parameter and every checkpoint
    it reads at INFO level, hundreds of lines for a CAST model; mmseg warns
    about its own deprecated builders whenever a model is built.  Runners
    create their own logger and are not affected.
    """
    if verbose:
        return
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    for package in ('mmseg', 'mmpretrain', 'mmengine', 'mmcv'):
        warnings.filterwarnings('ignore', category=UserWarning,
                                module=package)
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                module=package)
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')


def error_line(error: BaseException) -> str:
    """An exception as one line: its message, whitespace collapsed (the
    type is added when the message alone would not say what happened)."""
    message = error.args[0] if isinstance(error, KeyError) and error.args \
        else str(error)
    message = ' '.join(str(message).split())
    # A bare key, an assertion or an attribute name says little alone.
    if ' ' not in message or isinstance(error, (AssertionError,
                                                AttributeError)):
        message = f'{type(error).__name__}: {message}'.rstrip(': ')
    return message


def run_cli(main: Callable, argv: Optional[Sequence[str]] = None):
    """Run a tool's ``main``: an error ends it with one line on stderr and
    exit status 1, or with the traceback when ``--debug`` is given.

    Args:
        main (callable): the tool's entry point; called with no arguments
            (it parses ``sys.argv``).
        argv (Sequence[str], optional): to look for ``--debug`` in;
            ``sys.argv`` by default.

    Returns:
        what ``main`` returns.
    """
    argv = sys.argv if argv is None else argv
    try:
        return main()
    except Exception as e:  # noqa: B902  (every error becomes one line)
        if '--debug' in argv:
            raise
        tool = osp.basename(sys.argv[0]) if sys.argv and sys.argv[0] \
            else 'mmcast'
        print(f'{tool}: error: {error_line(e)} (--debug shows the '
              'traceback)', file=sys.stderr)
        sys.exit(1)
