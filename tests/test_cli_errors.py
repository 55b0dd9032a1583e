# Copyright (c) mmcast contributors. All rights reserved.
"""The command-line tools (hierarchy demo, quickstart, tools/test.py, the
converter) end with one line, exit status 1 and no traceback (unless
``--debug``) on a file that is not a checkpoint, a truncated checkpoint, a
checkpoint of another architecture and a missing file.

Every tool x error pair runs in-process through the tools' own error
handling; one pair per tool (and ``--debug``) runs as a real subprocess in
the default suite, the other pairs with ``-m slow``."""
import os
import os.path as osp
import subprocess
import sys
from unittest import mock

import pytest
import torch

from tests.conftest import ROOT, load_tool
from tests.hierarchy_helpers import (CLS_CFG, SEG_CFG, quiet_init_model,
                                     save_tiny_checkpoint)

TOY = osp.join(ROOT, 'configs', 'cast_toy_scenes.py')
ERRORS = ('not_a_checkpoint', 'truncated', 'other_arch', 'missing')
#: What the one line must say, per error (the converter's "other
#: architecture" is a non-CAST encoder).
PHRASES = {
    'not_a_checkpoint': 'is not a PyTorch checkpoint',
    'truncated': 'truncated or corrupt',
    'other_arch': 'does not fit the model',
    'missing': 'no checkpoint',
}
TOOLS = {
    'demo': 'tools/demo/hierarchy_demo.py',
    'quickstart': 'tools/quickstart.py',
    'test': 'tools/test.py',
    'converter': 'tools/model_converters/cast2mmcast.py',
}


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Data, good checkpoints and the four bad files of every tool."""
    from mmcast.datasets import generate_toy_scenes
    tmp = tmp_path_factory.mktemp('cli_errors')
    data = generate_toy_scenes(str(tmp / 'toy'), 4, 2, 64)
    image = osp.join(data, 'images', 'validation', 'scene_00000.jpg')
    toy = str(tmp / 'toy.pth')
    torch.save(dict(state_dict=quiet_init_model(TOY).state_dict()), toy)
    seg, cls = str(tmp / 'seg.pth'), str(tmp / 'cls.pth')
    save_tiny_checkpoint(seg, SEG_CFG)
    save_tiny_checkpoint(cls, CLS_CFG)
    release = str(tmp / 'release.pth')
    fix = torch.load(osp.join(ROOT, 'tests', 'data', 'release',
                              'cast_release_deit_cls_small.pt'),
                     weights_only=False)
    torch.save(fix['checkpoint'], release)
    vit = str(tmp / 'vit.pth')  # a DeiT file of a plain ViT
    torch.save(dict(model={
        'cls_token': torch.zeros(1, 1, 8),
        'patch_embed.proj.weight': torch.zeros(8, 3, 16, 16),
        'blocks.0.attn.qkv.weight': torch.zeros(24, 8),
        'norm.weight': torch.ones(8)}), vit)
    text = str(tmp / 'notes.pth')
    with open(text, 'w') as f:
        f.write('these are not the weights you are looking for\n')

    def truncated(src):
        dst = src.replace('.pth', '_truncated.pth')
        with open(src, 'rb') as f:
            data_ = f.read()
        with open(dst, 'wb') as f:
            f.write(data_[:len(data_) // 2])
        return dst

    missing = str(tmp / 'nowhere.pth')
    bad = {
        'demo': dict(not_a_checkpoint=text, truncated=truncated(seg),
                     other_arch=cls, missing=missing),
        'quickstart': dict(not_a_checkpoint=text, truncated=truncated(toy),
                           other_arch=seg, missing=missing),
        'test': dict(not_a_checkpoint=text, truncated=truncated(toy),
                     other_arch=seg, missing=missing),
        'converter': dict(not_a_checkpoint=text,
                          truncated=truncated(release), other_arch=vit,
                          missing=missing),
    }
    return dict(tmp=str(tmp), data=data, image=image, bad=bad)


def command(tool, files, checkpoint):
    """The tool's command line (after the script) for one checkpoint."""
    out = osp.join(files['tmp'], f'out_{tool}')
    loaders = [f'{name}.{key}' for name in ('train_dataloader',
                                            'val_dataloader',
                                            'test_dataloader')
               for key in ('num_workers=0', 'persistent_workers=False')]
    if tool == 'demo':
        return [files['image'], SEG_CFG, '--checkpoint', checkpoint,
                '--out-dir', out]
    if tool == 'quickstart':
        return ['--work-dir', out, '--data-root', files['data'],
                '--checkpoint', checkpoint]
    if tool == 'test':
        return [TOY, checkpoint, '--work-dir', out, '--cfg-options'] + [
            f'{name}.dataset.data_root={files["data"]}'
            for name in ('train_dataloader', 'val_dataloader',
                         'test_dataloader')
        ] + loaders
    return [checkpoint, osp.join(out, 'converted.pth')]


def check_one_line(tool, error, stderr, stdout=''):
    assert 'Traceback' not in stderr + stdout, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines, stdout[-2000:]
    last = lines[-1]
    assert 'error: ' in last, stderr[-2000:]
    phrase = 'not a CAST encoder' if (tool, error) == (
        'converter', 'other_arch') else PHRASES[error]
    assert phrase in last, last


@pytest.mark.parametrize('error', ERRORS)
@pytest.mark.parametrize('tool', list(TOOLS))
def test_one_line_error_in_process(tool, error, files, capsys):
    checkpoint = files['bad'][tool][error]
    argv = [TOOLS[tool]] + command(tool, files, checkpoint)
    module = load_tool(TOOLS[tool])
    with mock.patch.object(sys, 'argv', argv), \
            pytest.raises(SystemExit) as exit_:
        from mmcast.utils import run_cli
        run_cli(module.main)
    assert exit_.value.code not in (0, None)
    captured = capsys.readouterr()
    err = captured.err + (exit_.value.code
                          if isinstance(exit_.value.code, str) else '')
    check_one_line(tool, error, err, captured.out)
    if error == 'other_arch' and tool != 'converter':
        # which tensors differ, with counts
        assert 'tensors are missing from it' in err


def run(tool, files, error, *extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    checkpoint = files['bad'][tool][error]
    return subprocess.run(
        [sys.executable, TOOLS[tool]] + command(tool, files, checkpoint) +
        list(extra), cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)


#: One subprocess per tool in the default suite, each error once.
FAST = [('demo', 'other_arch'), ('test', 'truncated'),
        ('quickstart', 'not_a_checkpoint'), ('converter', 'missing')]
SLOW = [(t, e) for t in TOOLS for e in ERRORS if (t, e) not in FAST]


@pytest.mark.parametrize('tool,error', FAST + [
    pytest.param(t, e, marks=pytest.mark.slow) for t, e in SLOW])
def test_one_line_error_as_subprocess(tool, error, files):
    proc = run(tool, files, error)
    assert proc.returncode == 1, (proc.stdout[-2000:], proc.stderr[-2000:])
    check_one_line(tool, error, proc.stderr, proc.stdout)


def test_debug_shows_the_traceback(files):
    proc = run('test', files, 'not_a_checkpoint', '--debug')
    assert proc.returncode == 1
    assert 'Traceback' in proc.stderr
    assert 'CheckpointError' in proc.stderr
