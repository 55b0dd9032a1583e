# Copyright (c) mmcast contributors. All rights reserved.
"""Exact resume (interrupted at N/2 and resumed equals uninterrupted at N),
real mmengine checkpoints through the safe loader, ``--amp`` training on
the CPU, and the bf16 (CPU) / fp16 (GPU) forward of CAST-S against fp32."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from tests.conftest import ROOT

TOY = osp.join(ROOT, 'configs', 'cast_toy_scenes.py')


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    from mmcast.datasets import generate_toy_scenes
    return generate_toy_scenes(str(tmp_path_factory.mktemp('toy')), 6, 2,
                               64)


@pytest.fixture
def restore_determinism():
    """mmengine's deterministic mode is process-wide: undo it after."""
    yield
    torch.use_deterministic_algorithms(False)


def toy_cfg(root, work_dir, max_iters, resume=False, amp=False):
    from mmcast.apis import enable_amp, load_config
    options = {
        f'{name}.dataset.data_root': root
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    }
    for name in ('train_dataloader', 'test_dataloader'):
        options[f'{name}.num_workers'] = 0
        options[f'{name}.persistent_workers'] = False
    options.update({
        'train_dataloader.batch_size': 2,
        'train_cfg.max_iters': max_iters,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'randomness.deterministic': True,
    })
    cfg = load_config(TOY, options, work_dir)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.resume = resume
    if amp:
        enable_amp(cfg)
    return cfg


def train(cfg):
    from mmcast.apis import build_runner
    runner = build_runner(cfg)
    runner.train()
    return runner


def weights(path):
    from mmcast.engine import load_checkpoint_file
    return load_checkpoint_file(path)['state_dict']


def test_interrupted_and_resumed_equals_uninterrupted(toy_root, tmp_path,
                                                      restore_determinism):
    N = 4
    full, cut = str(tmp_path / 'full'), str(tmp_path / 'cut')
    train(toy_cfg(toy_root, full, N))
    train(toy_cfg(toy_root, cut, N // 2))  # "interrupted" at N/2
    runner = train(toy_cfg(toy_root, cut, N, resume=True))
    assert runner.iter == N
    a, b = weights(f'{full}/iter_{N}.pth'), weights(f'{cut}/iter_{N}.pth')
    start = weights(f'{cut}/iter_{N // 2}.pth')
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the second half did train
    assert any(not torch.equal(a[k], start[k]) for k in a)

    # The run's real checkpoint (message hub, optimizer, schedulers, RNG
    # state) reads with weights_only and tests.
    from mmcast.apis import build_runner
    from mmcast.engine import load_checkpoint_file
    ckpt = load_checkpoint_file(f'{cut}/iter_{N}.pth')
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    assert ckpt['optimizer']['state'] and ckpt['param_schedulers']
    assert ckpt['rng_state']['torch'].dtype == torch.uint8
    cfg = toy_cfg(toy_root, str(tmp_path / 'test'), N)
    cfg.load_from = f'{cut}/iter_{N}.pth'
    metrics = build_runner(cfg, mode='test').test()
    assert 0 <= metrics['mIoU'] <= 100


def test_amp_trains_on_the_cpu(toy_root, tmp_path, restore_determinism):
    cfg = toy_cfg(toy_root, str(tmp_path / 'amp'), 2, amp=True)
    assert cfg.optim_wrapper.type == ('AmpOptimWrapper'
                                      if torch.cuda.is_available() else
                                      'CPUAmpOptimWrapper')
    from mmcast.apis import build_runner
    runner = build_runner(cfg)
    qkv = runner.model.backbone.stages[0].blocks[0].attn.qkv
    seen = []
    qkv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert seen and set(seen) == {torch.bfloat16}  # autocast was on
    after = runner.model.state_dict()
    assert all(v.dtype == before[k].dtype for k, v in after.items())
    assert any(not torch.equal(after[k], before[k]) for k in before)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss)


def cast_s_outputs(device, dtype):
    """CAST-S at 112 px on two photos in fp32 and under autocast, the
    second with the first's farthest-point samples (FPS is a discrete
    choice: a near tie can flip it, which would compare two different
    clusterings rather than two precisions)."""
    import cv2
    from skimage import data

    import mmcast.models.necks.graph_pool as graph_pool
    from mmcast.datasets.transforms import compute_superpixels
    from mmcast.models import CAST
    torch.manual_seed(0)
    model = CAST(arch='small', img_size=112, pos_embed='learned',
                 token_pooling='full', with_fusion=True, out_type='raw')
    model.init_weights()
    model = model.eval().to(device)
    imgs = [cv2.resize(im, (112, 112)) for im in (data.astronaut(),
                                                   data.coffee())]
    sp = torch.from_numpy(np.stack([
        compute_superpixels(im, 49, channel_order='rgb') for im in imgs
    ])).long().to(device)
    x = torch.from_numpy((np.stack(imgs) - 127.5) / 64.).float()
    x = x.permute(0, 3, 1, 2).contiguous().to(device)
    fps, recorded = graph_pool.farthest_point_sampling, []

    def record(*args, **kwargs):
        recorded.append(fps(*args, **kwargs))
        return recorded[-1]

    with torch.no_grad():
        graph_pool.farthest_point_sampling = record
        try:
            ref = model(x, sp)
            replay = iter(list(recorded))
            graph_pool.farthest_point_sampling = \
                lambda *a, **k: next(replay)
            with torch.autocast(device_type=device, dtype=dtype):
                forced = model(x, sp)
        finally:
            graph_pool.farthest_point_sampling = fps
        with torch.autocast(device_type=device, dtype=dtype):
            free = model(x, sp)
    return ref, forced, free


def rel(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / a.norm()).item()


def check_low_precision(ref, forced, free, tol=2e-2, logit_tol=5e-2):
    """The stated tolerances: relative (Frobenius) error <= ``tol`` for the
    tokens of every stage, the class feature and the fused tokens,
    <= ``logit_tol`` for the assignment logits, >= 90% of superpixels in
    the same segment at every level (same FPS samples)."""
    for s, (r, f) in enumerate(zip(ref['stages'], forced['stages'])):
        assert rel(r['tokens'], f['tokens']) <= tol, s
        assert rel(r['pooled'], f['pooled']) <= tol, s
        assert rel(r['logits'], f['logits']) <= logit_tol, s
    assert rel(ref['cls_feat'], forced['cls_feat']) <= tol
    assert rel(ref['fused_tokens'], forced['fused_tokens']) <= tol
    for r, f in zip(ref['hierarchy'], forced['hierarchy']):
        assert (r == f).float().mean().item() >= 0.9
    # Without forcing the samples, the class feature still agrees.
    assert rel(ref['cls_feat'], free['cls_feat']) <= tol


def test_bf16_autocast_forward_on_cpu_within_tolerance():
    check_low_precision(*cast_s_outputs('cpu', torch.bfloat16))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_fp16_autocast_forward_on_gpu_within_tolerance():
    check_low_precision(*cast_s_outputs('cuda', torch.float16))
