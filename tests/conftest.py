# Copyright (c) mmcast contributors. All rights reserved.
import importlib.util
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# The tests run tiny models: one torch thread per process ran them several
# times faster than two on the project's shared 2-core CPU (thread
# contention).  Set before torch is imported; subprocesses inherit it.
# OMP_NUM_THREADS given by the caller wins.
os.environ.setdefault('OMP_NUM_THREADS', '1')


def load_tool(relpath):
    """Import a script under tools/ as a module."""
    path = osp.join(ROOT, relpath)
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def release_fixture_dir():
    return os.environ.get('MMCAST_RELEASE_FIXTURES') or osp.join(
        ROOT, 'tests', 'data', 'release')


@pytest.fixture(autouse=True)
def _seed():
    import torch
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _reopen_logger_streams():
    """Point logging stream handlers left on a closed stream back at stderr.

    mmengine's ``MMLogger`` instances outlive a test; one created while
    pytest captured output keeps the capture's stream, which pytest closes
    when the test ends. A later test that logs through that instance would
    print a "--- Logging error ---" traceback into its own captured output.
    """
    yield
    import logging
    import sys

    from mmengine.logging import MMLogger
    loggers = list(MMLogger._instance_dict.values())
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values()
                if isinstance(lg, logging.Logger)]
    loggers.append(logging.getLogger())
    for logger in loggers:
        for handler in logger.handlers:
            stream = getattr(handler, 'stream', None)
            if (isinstance(handler, logging.StreamHandler)
                    and not isinstance(handler, logging.FileHandler)
                    and stream is not None
                    and getattr(stream, 'closed', False)):
                # not setStream: it flushes the closed stream first
                handler.stream = sys.stderr
