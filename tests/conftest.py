# Copyright (c) mmcast contributors. All rights reserved.
import importlib.util
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


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
