# Copyright (c) mmcast contributors. All rights reserved.
"""Safe checkpoint loading: weights_only everywhere mmcast reads a
checkpoint, pickled code refused before it runs, one-line errors for files
that are not, or no longer, checkpoints, and for other architectures."""
import os
import os.path as osp
import pickle
import subprocess
import sys
import zipfile
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

import mmcast  # noqa: F401  (registers the safe loaders)
from mmcast.engine import (CheckpointError, check_state_dict,
                           load_checkpoint_file, state_dict_of)
from tests.conftest import ROOT
from tests.hierarchy_helpers import (CLS_CFG, SEG_CFG, quiet_init_model,
                                     save_tiny_checkpoint)


class Payload:
    """Unpickling this calls ``func(*args)``: in the files below, it
    creates a marker file."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def malicious_checkpoint(path, func, *args):
    """A plausible checkpoint whose meta carries a pickled call."""
    torch.save(dict(state_dict=dict(w=torch.zeros(2)),
                    meta=dict(note=Payload(func, *args))), path)
    return path


@pytest.fixture
def marker(tmp_path):
    return str(tmp_path / 'MARKER')


@pytest.fixture(params=['weights_only', 'old_torch'])
def torch_path(request, monkeypatch):
    """Both ways mmcast loads: torch's weights_only with a scoped
    allow-list, and, for torch < 2.5 (no scoped allow-lists), the
    restricted unpickler (forced here by hiding the newer API)."""
    if request.param == 'old_torch':
        monkeypatch.delattr(torch.serialization, 'safe_globals')
    return request.param


@pytest.mark.parametrize('kind', ['open', 'os.system', 'subprocess'])
def test_pickled_code_is_refused_and_never_runs(kind, marker, tmp_path,
                                                torch_path):
    calls = {
        'open': (open, marker, 'w'),
        'os.system': (os.system, f'touch {marker}'),
        'subprocess': (subprocess.call, ['touch', marker]),
    }[kind]
    path = malicious_checkpoint(str(tmp_path / 'evil.pth'), *calls)
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmcast.apis import init_model
    loaders = [
        lambda: load_checkpoint_file(path),
        # the Runner's load_from/resume and Pretrained init path
        lambda: _load_checkpoint(path, map_location='cpu'),
        lambda: init_model(SEG_CFG, path),
    ]
    for load in loaders:
        with pytest.raises(CheckpointError, match='refused to load') as e:
            load()
        assert '\n' not in str(e.value)
        assert not osp.exists(marker)
    # The control: an unsafe load of the same file does run the call.
    torch.load(path, weights_only=False)
    assert osp.exists(marker)


def test_getattr_only_names_history_buffer_statistics(tmp_path,
                                                       torch_path):
    # mmengine's checkpoints need getattr(HistoryBuffer, 'mean'); nothing
    # else is reachable through it.
    ok = str(tmp_path / 'ok.pth')
    torch.save(dict(m=Payload(getattr, HistoryBuffer, 'mean')), ok)
    assert load_checkpoint_file(ok)['m'] is HistoryBuffer.mean
    for obj, name in ((HistoryBuffer, '__init__'),
                      (HistoryBuffer.mean, '__globals__'),
                      (np.ndarray, 'tofile')):
        path = str(tmp_path / 'getattr.pth')
        torch.save(dict(m=Payload(getattr, obj, name)), path)
        with pytest.raises(CheckpointError, match='refused'):
            load_checkpoint_file(path)


def test_allow_list_is_scoped_to_mmcast_loads(tmp_path, torch_path):
    before = set(map(str, torch.serialization.get_safe_globals()))
    path = str(tmp_path / 'hub.pth')
    buffer = HistoryBuffer()
    buffer.update(2.5)
    torch.save(dict(hub=buffer, eta=np.float64(3.), arr=np.arange(3)), path)
    out = load_checkpoint_file(path)
    assert out['hub'].mean() == 2.5 and out['eta'] == 3.
    assert out['arr'].tolist() == [0, 1, 2]
    after = set(map(str, torch.serialization.get_safe_globals()))
    assert after == before
    # A plain weights_only load outside mmcast still refuses them.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    # So does the restricted unpickler without the allow-list entries.
    if torch_path == 'old_torch':
        from mmcast.engine import checkpoint
        with mock.patch.object(checkpoint, 'checkpoint_safe_globals',
                               lambda: []):
            with pytest.raises(CheckpointError, match='HistoryBuffer'):
                load_checkpoint_file(path)


def test_import_sets_no_process_wide_switch():
    env = {k: v for k, v in os.environ.items()
           if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    env['PYTHONPATH'] = ROOT
    out = subprocess.run(
        [sys.executable, '-c', 'import mmcast, os; '
         "print(os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'None'


def bad_files(tmp_path):
    """name -> (path, phrase the one-line error must contain)."""
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict={f'w{i}': torch.randn(64, 64)
                                for i in range(4)}), good)
    data = open(good, 'rb').read()
    files = {}

    def write(name, content, phrase):
        path = str(tmp_path / name)
        with open(path, 'wb') as f:
            f.write(content)
        files[name] = (path, phrase)

    write('empty.pth', b'', 'is empty (0 bytes)')
    write('text.pth', b'model weights\n', 'it is a text file')
    write('image.pth', b'\x89PNG\r\n\x1a\n' + bytes(40), 'a PNG image')
    write('truncated.pth', data[:len(data) // 2], 'truncated or corrupt')
    write('pickle.pth', pickle.dumps({'a': 1}), 'a Python pickle')
    legacy = str(tmp_path / 'legacy_full.pth')
    torch.save(dict(a=torch.zeros(3)), legacy,
               _use_new_zipfile_serialization=False)
    raw = open(legacy, 'rb').read()
    write('legacy_truncated.pth', raw[:len(raw) // 2], 'truncated or corrupt')
    archive = str(tmp_path / 'archive.pth')
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('notes.txt', 'hello')
    files['archive.pth'] = (archive, 'not a PyTorch checkpoint (no data.pkl')
    np.save(str(tmp_path / 'array.npy'), np.zeros(3))
    files['array.npy'] = (str(tmp_path / 'array.npy'), 'a NumPy .npy array')
    return good, files


def test_damaged_and_foreign_files_fail_in_one_line(tmp_path, torch_path):
    good, files = bad_files(tmp_path)
    assert set(load_checkpoint_file(good)['state_dict']) == {
        'w0', 'w1', 'w2', 'w3'}
    for name, (path, phrase) in files.items():
        with pytest.raises(CheckpointError) as e:
            load_checkpoint_file(path)
        assert phrase in str(e.value), (name, str(e.value))
        assert '\n' not in str(e.value) and path in str(e.value)
    with pytest.raises(FileNotFoundError, match='no checkpoint file at'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
    with pytest.raises(CheckpointError, match='is a directory'):
        load_checkpoint_file(str(tmp_path))


def test_checkpoint_of_another_architecture(tmp_path):
    seg = quiet_init_model(SEG_CFG)
    cls_path = str(tmp_path / 'cls.pth')
    save_tiny_checkpoint(cls_path, CLS_CFG)
    state = state_dict_of(load_checkpoint_file(cls_path), cls_path)
    target = seg.state_dict()
    missing = [k for k in target if k not in state]
    unknown = [k for k in state if k not in target]
    reshaped = [k for k in target if k in state
                and state[k].shape != target[k].shape]
    assert missing and unknown  # the two models share only the backbone
    with pytest.raises(CheckpointError) as e:
        check_state_dict(seg, state, cls_path)
    msg = str(e.value)
    assert f"{len(missing)} of the model's {len(target)} tensors are " \
        'missing' in msg
    assert f'{len(unknown)} of its {len(state)} tensors are unknown' in msg
    assert (f'{len(reshaped)} have another shape' in msg) == bool(reshaped)
    assert missing[0] in msg and '\n' not in msg
    # A fitting checkpoint passes, with the 'module.' prefix of wrappers.
    wrapped = {'module.' + k: v for k, v in target.items()}
    check_state_dict(seg, state_dict_of(dict(state_dict=wrapped)))
    with pytest.raises(CheckpointError, match='holds no model weights'):
        state_dict_of(dict(meta=dict(a=1)), 'x.pth')


def test_optional_parts_may_be_missing():
    """A model's ``optional_state_prefixes`` may be absent from a
    checkpoint (HierarchySegmentor's coarse pool on a pre-training
    checkpoint); any other missing tensor still fails."""

    class Model(torch.nn.Module):
        optional_state_prefixes = ('extra.', )

        def __init__(self):
            super().__init__()
            self.body = torch.nn.Linear(2, 3)
            self.extra = torch.nn.Linear(3, 1)

    model = Model()
    state = {k: v for k, v in model.state_dict().items()
             if k.startswith('body.')}
    check_state_dict(model, state)
    del state['body.bias']
    with pytest.raises(CheckpointError, match=r"1 of the model's 4 tensors "
                       r'are missing from it \(body.bias\)'):
        check_state_dict(model, state)
    model.optional_state_prefixes = ()
    body_only = {k: v for k, v in model.state_dict().items()
                 if k.startswith('body.')}
    with pytest.raises(CheckpointError, match='extra.weight'):
        check_state_dict(model, body_only)
