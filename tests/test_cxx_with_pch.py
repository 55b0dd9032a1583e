# Copyright (c) mmcast contributors. All rights reserved.
"""tools/misc/cxx_with_pch.sh, the compiler wrapper of the mmcv build: the
helper header is precompiled once and used by the files that start with
it, the machine code does not change, other files compile as they are."""
import os
import os.path as osp
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

WRAPPER = osp.join(ROOT, 'tools', 'misc', 'cxx_with_pch.sh')
HEADER = '''#pragma once
#include <vector>
inline int helper(int x) { return 3 * x + 1; }
'''
USES_HEADER = '''#include "pytorch_cpp_helper.hpp"
int twice_helper(int x) { return 2 * helper(x); }
'''
# Defines its own helper: with the header forced in, it would not compile.
OWN_HELPER = '''#include <vector>
inline int helper(int x) { return x - 1; }
int own(int x) { return helper(x); }
'''

pytestmark = pytest.mark.skipif(
    shutil.which('c++') is None or shutil.which('objdump') is None,
    reason='needs a C++ compiler and objdump')


def compile_one(cxx, src, obj, include, env):
    subprocess.run([cxx, '-O2', '-g0', '-I', include, '-c', src, '-o', obj],
                   check=True, env=env, capture_output=True, text=True)


def code(obj):
    """The disassembly of an object, without the line naming the file."""
    out = subprocess.run(['objdump', '-d', obj], check=True,
                         capture_output=True, text=True).stdout
    return out.split('\n', 2)[2]


def test_header_precompiled_once_and_same_machine_code(tmp_path):
    include = tmp_path / 'include'
    include.mkdir()
    (include / 'pytorch_cpp_helper.hpp').write_text(HEADER)
    sources = {'a': USES_HEADER, 'b': USES_HEADER.replace('twice', 'thrice'),
               'own': OWN_HELPER}
    for name, text in sources.items():
        (tmp_path / f'{name}.cpp').write_text(text)
    pch = tmp_path / 'pch'
    pch.mkdir()
    env = dict(os.environ, MMCAST_PCH_DIR=str(pch), MMCAST_PCH_CXX='c++')
    for name in sources:
        compile_one(WRAPPER, str(tmp_path / f'{name}.cpp'),
                    str(tmp_path / f'{name}.pch.o'), str(include), env)
        compile_one('c++', str(tmp_path / f'{name}.cpp'),
                    str(tmp_path / f'{name}.plain.o'), str(include), env)
        assert code(tmp_path / f'{name}.pch.o') == \
            code(tmp_path / f'{name}.plain.o'), name
    assert sorted(os.listdir(pch)) == [
        'mmcv_pch.h', 'mmcv_pch.h.gch', 'pch.done', 'pch.lock']
    # gcc's -H marks a precompiled header it used with '!'
    shown = subprocess.run(
        [WRAPPER, '-H', '-O2', '-g0', '-I', str(include), '-c',
         str(tmp_path / 'a.cpp'), '-o', str(tmp_path / 'a.h.o')],
        check=True, env=env, capture_output=True, text=True).stderr
    assert f'! {pch / "mmcv_pch.h.gch"}' in shown.splitlines()


def test_refuses_to_call_itself(tmp_path):
    env = dict(os.environ, MMCAST_PCH_DIR=str(tmp_path),
               MMCAST_PCH_CXX=WRAPPER)
    out = subprocess.run([WRAPPER, '--version'], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert 'names this wrapper' in out.stderr
