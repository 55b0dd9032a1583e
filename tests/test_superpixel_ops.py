# Copyright (c) mmcast contributors. All rights reserved.
"""Superpixel pooling, painting and unpooling: equal to the dense
computation, with memory that grows linearly with the image."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mmcast.models.utils import segment_mean, upsampled_segment_mean
from tests.conftest import ROOT


def dense_reference(feats, labels, num_segments, mode):
    """What the pooling computes, written the direct way."""
    up = F.interpolate(feats.expand(labels.shape[0], -1, -1, -1),
                       size=labels.shape[-2:], mode=mode,
                       align_corners=False)
    return segment_mean(up, labels, num_segments)[0]


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_pooling_equals_interpolate_then_mean(mode, dtype):
    torch.manual_seed(0)
    feats = torch.randn(2, 5, 4, 6, dtype=dtype)
    labels = torch.randint(0, 7, (2, 21, 30))
    labels[1, :3] = -1  # pixels with no superpixel
    labels[0][labels[0] == 3] = 4  # segment 3 of image 0 is empty
    ref = dense_reference(feats, labels, 7, mode)
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    # One band for the whole image, several bands, one row per band: the
    # working-memory bound does not change the result.
    for max_entries in (1 << 20, 200, 1):
        got = upsampled_segment_mean(feats, labels, 7, mode, max_entries)
        assert got.dtype == dtype
        torch.testing.assert_close(got, ref, atol=atol, rtol=0)
    assert torch.all(got[0, 3] == 0)
    # A table shared by the batch (the position map).
    got = upsampled_segment_mean(feats[:1], labels, 7, mode)
    torch.testing.assert_close(got, dense_reference(feats[:1], labels, 7,
                                                    mode), atol=atol, rtol=0)


def test_pooling_on_seeds_like_superpixels_at_stride_8():
    """Irregular superpixels on a stem grid, as CAST sees them."""
    torch.manual_seed(0)
    H, W = 96, 136
    jitter = torch.randint(-5, 6, (H, W))
    yy = (torch.arange(H)[:, None] + jitter).clamp(0, H - 1) // 12
    xx = (torch.arange(W)[None] + jitter.flip(0)).clamp(0, W - 1) // 12
    labels = torch.unique(yy * 100 + xx, return_inverse=True)[1][None]
    n = int(labels.max()) + 1
    feats = torch.randn(1, 16, H // 8, W // 8, dtype=torch.float64)
    for mode in ('bilinear', 'bicubic'):
        torch.testing.assert_close(
            upsampled_segment_mean(feats, labels, n, mode, 4096),
            dense_reference(feats, labels, n, mode), atol=1e-12, rtol=0)


# Run in a fresh process: peak resident memory of the operation alone.
PROBE = r'''
import json, resource, sys, torch
from mmcast.models.utils import (scatter_to_pixels, unpool,
                                 upsampled_segment_mean)
torch.set_num_threads(1)
H, W, C = 1024, 2048, 8
side = 16  # 8192 superpixels, as SEEDS gives at stride 16
lab = (torch.arange(H)[:, None] // side) * (W // side) + \
    torch.arange(W)[None] // side
lab = lab[None]
n = int(lab.max()) + 1
feats = torch.randn(1, C, H // 8, W // 8)
logits = torch.randn(1, n, 19)
chain = torch.randint(0, 40, (1, n))
tokens = torch.randn(1, 40, C)
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {}
base = peak()
upsampled_segment_mean(feats, lab, n, 'bilinear')
upsampled_segment_mean(feats, lab, n, 'bicubic')
out['pooling_mb'] = peak() - base
base = peak()
scatter_to_pixels(unpool(tokens, chain), lab)
scatter_to_pixels(logits, lab)
out['painting_mb'] = peak() - base
print(json.dumps(out))
'''


def test_memory_is_linear_in_the_image():
    """One 1024x2048 image, 8192 superpixels, stride-8 grid: the pooling
    matrix of the quadratic implementation alone was (8193 x 32768)
    float64 = 2.1 GB; the sparse one needs a few hundred kB plus a
    bounded working set.  Painting allocates its output ((19, H, W)
    float32 = 160 MB) and little else."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    res = subprocess.run([sys.executable, '-c', PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    assert mem['pooling_mb'] < 300, mem
    assert mem['painting_mb'] < 2 * 19 * 1024 * 2048 * 4 / 2**20, mem


def test_pooling_backward_under_cpu_autocast():
    """--amp on the CPU (bfloat16 autocast): the pooling's sparse product
    runs in float32 and its backward reaches the stem features."""
    feats = torch.randn(1, 4, 3, 3, requires_grad=True)
    labels = torch.arange(36).view(1, 6, 6) % 4  # 4 segments
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = F.conv2d(feats, torch.eye(4).view(4, 4, 1, 1))
        assert x.dtype == torch.bfloat16
        out = upsampled_segment_mean(x, labels, 4)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    expected = upsampled_segment_mean(feats.detach(), labels, 4)
    torch.testing.assert_close(out.float(), expected, atol=0.05, rtol=0.02)
    assert feats.grad is not None and bool(torch.isfinite(feats.grad).all())
