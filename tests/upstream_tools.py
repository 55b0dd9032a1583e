# Copyright (c) mmcast contributors. All rights reserved.
"""Find MMSegmentation's and MMPretrain's own tool scripts, unchanged.

They are not importable modules, but the packages carry them: the PyPI
wheels (and sdists) ship ``tools/`` as ``<package>/.mim/tools``, which is
what ``mim run`` executes.  Looked up, in order:

1. ``$MMCAST_MMSEG_TOOLS`` / ``$MMCAST_MMPRETRAIN_TOOLS``: a ``tools``
   folder of your choice (e.g. of a git checkout);
2. the installed package's ``.mim/tools``;
3. the sdist of the installed version, downloaded once with pip into
   ``${MMCAST_CACHE:-~/.cache/mmcast}/upstream`` and unpacked there;

and a test that needs a tool it cannot find is skipped with the reason.
"""
import glob
import os
import os.path as osp
import subprocess
import sys
import tarfile
from importlib import import_module

import pytest

from tests.conftest import ROOT

#: import name -> (PyPI name, environment variable)
PACKAGES = {
    'mmseg': ('mmsegmentation', 'MMCAST_MMSEG_TOOLS'),
    'mmpretrain': ('mmpretrain', 'MMCAST_MMPRETRAIN_TOOLS'),
}


def _cache_dir():
    return os.environ.get('MMCAST_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'),
        'mmcast')


def _from_sdist(package: str):
    """``.mim/tools`` of the installed version's sdist, fetched once."""
    pypi = PACKAGES[package][0]
    version = import_module(package).__version__
    folder = osp.join(_cache_dir(), 'upstream', f'{pypi}-{version}')
    tools = osp.join(folder, package, '.mim', 'tools')
    if osp.isdir(tools):
        return tools
    os.makedirs(folder, exist_ok=True)
    res = subprocess.run(
        [sys.executable, '-m', 'pip', 'download', '--no-deps',
         '--no-binary', ':all:', f'{pypi}=={version}', '-d', folder],
        capture_output=True, text=True, timeout=300)
    archives = glob.glob(osp.join(folder, f'{pypi}-{version}.tar.gz'))
    if res.returncode or not archives:
        return None
    prefix = f'{pypi}-{version}/'
    with tarfile.open(archives[0]) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix + package + '/.mim/tools/')]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(folder, members=members, filter='data')
    return tools if osp.isdir(tools) else None


def tools_dir(package: str) -> str:
    """The ``tools`` folder of ``package`` (``'mmseg'`` or
    ``'mmpretrain'``), or skip the calling test."""
    env = os.environ.get(PACKAGES[package][1])
    candidates = [env] if env else []
    module = import_module(package)
    candidates.append(osp.join(osp.dirname(module.__file__), '.mim',
                               'tools'))
    for folder in candidates:
        if osp.isfile(osp.join(folder, 'train.py')):
            return folder
    try:
        folder = _from_sdist(package)
    except (OSError, subprocess.SubprocessError, tarfile.TarError):
        folder = None
    if folder is None:
        pytest.skip(f"{package}'s tools/ not found: not in "
                    f'{candidates}, and its sdist could not be downloaded; '
                    f'set {PACKAGES[package][1]} to a tools/ folder')
    return folder


def stock_config(name: str) -> str:
    """Path of a config shipped in a package, ``'mmseg::segformer/x.py'``
    (the ``.mim/configs`` that ``mmseg::`` inheritance reads)."""
    package, path = name.split('::')
    return osp.join(osp.dirname(import_module(package).__file__), '.mim',
                    'configs', path)


def run_tool(package: str, script: str, args, cwd=ROOT, timeout=900,
             check=True, with_library_fixes=False):
    """Run ``<tools>/<script>`` of ``package`` as its users do, from the
    repository root, with mmcast importable; ``with_library_fixes`` runs it
    through ``tests/upstream_fixes.py`` (known upstream library bugs worked
    around in that process, the script unchanged).

    Returns:
        subprocess.CompletedProcess: with ``output`` = stdout + stderr.
    """
    path = script if osp.isabs(script) else osp.join(tools_dir(package),
                                                     script)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
               MPLBACKEND='Agg')
    runner = [osp.join(ROOT, 'tests', 'upstream_fixes.py')] \
        if with_library_fixes else []
    res = subprocess.run([sys.executable, *runner, path] +
                         [str(a) for a in args],
                         cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, env=env)
    res.output = res.stdout + res.stderr
    if check:
        assert res.returncode == 0, res.output[-4000:]
    return res
