# Copyright (c) mmcast contributors. All rights reserved.
"""LarvSeg's head: the image-level loss with co-present classes left out
(hand-computed), the category memory and attention map on small hand
cases, the memory's all-gather, heads on two ranks keeping identical
memories (threads exchanging the real tensors; two gloo processes in the
slow suite), and the head on a CAST and on a ViT."""
import math
import os
import socket
import threading

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmcast  # noqa: F401
from mmcast.models.utils.category_memory import (CategoryMemory,
                                                 gather_writes,
                                                 profile_distance,
                                                 standardize)

EPS = 1e-5


@pytest.fixture(autouse=True)
def _mmseg_scope():
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def sample(labels=None, mask=None, shape=(1, 2), source='', vocab=None):
    s = SegDataSample()
    meta = dict(img_shape=shape, padding_size=(0, 0, 0, 0), source=source)
    if vocab is not None:
        meta['source_classes'] = vocab
    s.set_metainfo(meta)
    if labels is not None:
        s.gt_image_labels = torch.tensor(labels)
    if mask is not None:
        s.gt_sem_seg = PixelData(data=torch.tensor(mask)[None])
    return s


def hand_head(**kwargs):
    """3 classes in a 2-d space, identity projection:
    class 0 = +x, class 1 = +y, class 2 = -x."""
    cfg = dict(type='LarvSegHead', in_channels=2, channels=2, num_classes=3,
               loss_downsample=1, loss_cls_weight=1., use_ca=False)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    with torch.no_grad():
        head.proj.weight.copy_(torch.eye(2))
        head.class_embed.copy_(torch.tensor([[1., 0], [0, 1], [-1, 0]]))
    return head


def test_image_level_loss_leaves_co_present_classes_out():
    head = hand_head()
    # Two tokens (a 1x2 map), both at +x: cosines (1, 0, -1), standardised
    # over the 3 classes: (z, 0, -z) with z = 1 / sqrt(2/3 + eps).
    feats = torch.tensor([[1., 1.], [0., 0.]])[None, :, None, :]  # (1,2,1,2)
    losses = head.loss((feats, ), [sample(labels=[0, 1])])
    z = 1 / math.sqrt(2 / 3 + EPS)
    # Class 0 against class 2 (class 1 left out): logits (z, -z);
    # class 1 against class 2 (class 0 left out): logits (0, -z).
    want = (math.log1p(math.exp(-2 * z)) + math.log1p(math.exp(-z))) / 2
    assert losses['loss_cls'].item() == pytest.approx(want, abs=1e-5)
    # With every class in the softmax the value would differ.
    full = (math.log(math.exp(z) + 1 + math.exp(-z)) - z +
            math.log(math.exp(z) + 1 + math.exp(-z))) / 2
    assert abs(full - want) > 0.5
    # A single-label image: plain cross-entropy over all classes.
    one = head.loss((feats, ), [sample(labels=[1])])['loss_cls']
    assert one.item() == pytest.approx(
        math.log(math.exp(z) + 1 + math.exp(-z)), abs=1e-5)
    assert losses['loss_seg'].item() == losses['loss_aux'].item() == 0


def test_image_level_loss_averages_over_valid_pixels_only():
    head = hand_head()
    # Image 1x2 padded to 1x4: the padded tokens point to -x.
    feats = torch.tensor([[1., 1., -1., -1.], [0., 0., 0., 0.]])
    s = sample(labels=[0, 1])
    s.set_metainfo(dict(padding_size=(0, 2, 0, 0)))
    losses = head.loss((feats[None, :, None], ), [s])
    z = 1 / math.sqrt(2 / 3 + EPS)
    want = (math.log1p(math.exp(-2 * z)) + math.log1p(math.exp(-z))) / 2
    assert losses['loss_cls'].item() == pytest.approx(want, abs=1e-5)


def test_source_vocabulary_and_weights():
    head = hand_head(source_loss_weights=dict(b=dict(loss_seg=2.)))
    feats = torch.tensor([[1., 1.], [0., 0.]])[None, :, None, :]
    # Mask of class 0 on both pixels, source vocabulary {0, 2}: logits of
    # classes 0 and 2 standardised over the two: (+1, -1) * 1/sqrt(1+eps).
    s = sample(mask=[[0, 0]], source='b', vocab=[0, 2])
    loss = head.loss((feats, ), [s])['loss_seg']
    z = 1 / math.sqrt(1 + EPS)
    assert loss.item() == pytest.approx(2 * math.log1p(math.exp(-2 * z)),
                                        abs=1e-5)
    with pytest.raises(ValueError, match='vocab_size'):
        head.loss((feats, ), [sample(labels=[5])])


def test_memory_write_fifo_and_scores():
    mem = CategoryMemory(num_classes=2, channels=2, size=2, topk=2,
                         warmup=1)
    feats = torch.tensor([[1., 0], [0, 1], [0.6, 0.8], [-1, 0]])
    scores = torch.tensor([0.9, 0.1, 0.5, 0.95])
    valid = torch.tensor([True, True, True, False])
    # Top-2 valid tokens by score: 0 and 2 (token 3 is padding).
    entry = mem.entry(feats, scores, valid)
    assert entry.tolist() == pytest.approx([0.8, 0.4])
    assert mem.ready([0, 1]) == [False, False]
    mem.write(torch.tensor([0]), entry[None])
    mem.write(torch.tensor([0, 1]), torch.tensor([[0., 1], [1., 0]]))
    assert mem.ptr.tolist() == [0, 1] and mem.writes.tolist() == [2, 1]
    assert mem.ready([0, 1]) == [True, False]
    # Mean cosine with the stored features = dot with the entries' mean.
    tok = torch.tensor([[1., 0], [0.6, 0.8]])
    assert mem.scores(tok, [0]).tolist()[0] == pytest.approx(
        [(0.8 + 0) / 2, (0.48 + 0.32 + 0.8) / 2])
    # The same as the mean cosine over the raw K features of the entries.
    raw = torch.tensor([[1., 0], [0.6, 0.8], [0., 1], [0., 1]])
    assert mem.scores(tok, [0])[0].tolist() == pytest.approx(
        (tok @ raw.t()).mean(1).tolist())
    # FIFO: a third write replaces the oldest entry of class 0.
    mem.write(torch.tensor([0]), torch.tensor([[-1., 0]]))
    assert mem.entries[0].tolist() == [[-1., 0], [0., 1]]
    assert mem.ptr.tolist() == [1, 1]
    with pytest.raises(ValueError, match='never written'):
        CategoryMemory(3, 2).scores(tok, [2])


def test_attention_map_hand_case():
    mem = CategoryMemory(num_classes=2, channels=2, size=1, topk=1)
    mem.write(torch.tensor([0, 1]), torch.tensor([[1., 0], [0., 1]]))
    tok = torch.tensor([[1., 0], [0., 1], [0.6, 0.8]])
    valid = torch.ones(3, dtype=torch.bool)
    # S_fg = (1, 0, 0.6), S_bg = (0, 1, 0.8): S_fg - S_bg = (1, -1, -0.2).
    d = torch.tensor([1., -1., -0.2])
    mean = d.mean()
    want = (d - mean) / torch.sqrt(((d - mean)**2).mean() + EPS)
    att = mem.attention(tok, valid, fg=0, bg=[1])
    assert att.tolist() == pytest.approx(want.tolist(), abs=1e-5)
    assert att.tolist() == pytest.approx([1.2978, -1.1355, -0.1622],
                                         abs=1e-3)
    # No background class: S_bg = 1 - S_fg.
    alone = mem.attention(tok, valid, fg=0, bg=[])
    d = torch.tensor([1., -1., 0.2])
    want = (d - d.mean()) / torch.sqrt(((d - d.mean())**2).mean() + EPS)
    assert alone.tolist() == pytest.approx(want.tolist(), abs=1e-5)
    # Invalid tokens are left out of the standardisation and set to 0.
    part = mem.attention(tok, torch.tensor([True, True, False]), 0, [1])
    assert part.tolist() == pytest.approx([1., -1., 0.], abs=1e-4)


def test_standardize_and_profile_distance():
    x = torch.tensor([[1., 2., 3., 100.]])
    valid = torch.tensor([True, True, True, False])
    z = standardize(x, valid)
    s = math.sqrt(2 / 3 + EPS)
    assert z.tolist()[0] == pytest.approx([-1 / s, 0, 1 / s, 0], abs=1e-6)
    fg = torch.tensor([0., 1., 2.])
    bg = torch.stack([fg * 3 + 1, -fg])
    d = profile_distance(fg, bg, torch.ones(3, dtype=torch.bool))
    # Same profile -> 0; mirrored -> mean of (2 z)^2 = 4.
    assert d.tolist() == pytest.approx([0., 4.], abs=1e-4)


def test_ca_loss_starts_after_warmup_and_writes_memory():
    head = hand_head(use_ca=True, memory_size=2, topk=1, warmup=1,
                     loss_aux_weight=1.)
    feats = torch.tensor([[1., 0.6, 0.], [0., 0.8, 1.]])[None, :, None, :]
    s = sample(labels=[0, 1], shape=(1, 3))
    seen = []
    for _ in range(3):
        losses = head.loss((feats, ), [s])
        seen.append(losses['loss_aux'].item())
    assert seen[0] == 0 and seen[1] == 0 and seen[2] > 0
    assert head.memory.writes.tolist() == [3, 3, 0]
    # Each write is the token that scores best for its class.
    assert head.memory.entries[0, 0].tolist() == pytest.approx([1., 0.])
    assert head.memory.entries[1, 0].tolist() == pytest.approx([0., 1.])
    # The CA loss: logits weighted by sigmoid(attention) before pooling.
    cos = torch.tensor([[1., 0, -1], [0.6, 0.8, -0.6], [0., 1, 0]])
    logits = standardize(cos, torch.ones(1, dtype=torch.bool))
    want = []
    for fg, other in ((0, 1), (1, 0)):
        s_fg, s_bg = cos[:, fg], cos[:, other]
        a = standardize(s_fg - s_bg, torch.ones(1, dtype=torch.bool))
        pooled = (logits * a.sigmoid()[:, None]).mean(0)
        keep = [c for c in range(3) if c != other]
        want.append(-torch.log_softmax(pooled[keep], 0)[keep.index(fg)])
    assert seen[2] == pytest.approx(float(sum(want) / 2), abs=1e-5)


def test_gather_writes_in_rank_order_with_uneven_counts():
    """Two ranks as threads exchanging tensors through a barrier: the real
    padding/trimming logic on both sides of a two-rank all-gather."""
    barrier = threading.Barrier(2)
    slots = [None, None]
    writes = {0: (torch.tensor([2]), torch.tensor([[1., 0]])),
              1: (torch.tensor([2, 0]), torch.tensor([[0., 1], [.6, .8]]))}
    out = {}

    def rank(r):
        def gather(t):
            barrier.wait()
            slots[r] = t.clone()
            barrier.wait()
            got = [s.clone() for s in slots]
            assert all(g.shape == t.shape for g in got)
            return got

        out[r] = gather_writes(*writes[r], gather=gather, world_size=2)

    threads = [threading.Thread(target=rank, args=(r, )) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in (0, 1):
        classes, entries = out[r]
        assert classes.tolist() == [2, 2, 0]
        assert torch.allclose(entries,
                              torch.tensor([[1., 0], [0., 1], [.6, .8]]))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gloo_worker(rank, port, out, fn):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        out[rank] = fn(rank)
    finally:
        dist.destroy_process_group()


def run_on_two_gloo_ranks(fn):
    """``{rank: fn(rank)}`` from two gloo processes."""
    out = mp.Manager().dict()
    mp.spawn(_gloo_worker, args=(_free_port(), out, fn), nprocs=2)
    return dict(out)


def _write_memory_as_rank(rank):
    mem = CategoryMemory(num_classes=3, channels=2, size=2, topk=1)
    # Rank 0 writes one entry, rank 1 two (ranks differ in count).
    if rank == 0:
        classes, entries = torch.tensor([2]), torch.tensor([[1., 0]])
    else:
        classes = torch.tensor([2, 0])
        entries = torch.tensor([[0., 1], [0.6, 0.8]])
    gathered = gather_writes(classes, entries)
    mem.write(classes, entries)
    mem.write(torch.zeros(0, dtype=torch.long), torch.zeros(0, 2))
    return (gathered[0].tolist(), gathered[1].tolist(),
            mem.entries.tolist(), mem.writes.tolist())


@pytest.mark.slow
def test_memory_writes_are_gathered_across_two_gloo_ranks():
    out = run_on_two_gloo_ranks(_write_memory_as_rank)
    classes, entries, bank0, writes0 = out[0]
    # Rank order: rank 0's write, then rank 1's.
    assert classes == [2, 2, 0]
    assert torch.allclose(torch.tensor(entries),
                          torch.tensor([[1., 0], [0., 1], [0.6, 0.8]]))
    assert out[0][2:] == out[1][2:]  # identical memories on both ranks
    assert writes0 == [1, 0, 2]
    assert bank0[2] == [[1., 0], [0., 1]]


# Two ranks training LarvSegHead (CA on, M = 2, K = 1, the hand head): per
# rank and step, the three token features (a 1 x 3 map) and the sample.
# Rank 0's second batch comes from a mask source: it writes nothing but
# still takes part in the gather.
RANK_STEPS = {
    0: [([[1., 0], [0.6, 0.8], [0, 1]], dict(labels=[0, 1])),
        ([[1., 0], [0, 1], [-1, 0]], dict(mask=[[0, 1, 2]]))],
    1: [([[-1., 0], [0, 1], [0.6, 0.8]], dict(labels=[2])),
        ([[0.8, 0.6], [0, 1], [-1, 0]], dict(labels=[0]))],
}


def _train_head_as_rank(rank):
    """The hand head's memory after ``RANK_STEPS[rank]``."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        head = hand_head(use_ca=True, memory_size=2, topk=1, warmup=1)
    for tokens, kwargs in RANK_STEPS[rank]:
        feats = torch.tensor(tokens).t()[None, :, None, :]
        head.loss((feats, ), [sample(shape=(1, 3), **kwargs)])
    return {k: v.tolist() for k, v in head.memory.state_dict().items()}


def _check_synchronised_memories(memories):
    # Identical on both ranks, and holding every rank's writes in rank
    # order: step 1 rank 0 (class 0: its best token (1, 0); class 1:
    # (0, 1)), rank 1 (class 2: (-1, 0)); step 2 rank 1 (class 0: (0.8,
    # 0.6)).  Unsynchronised, rank 0 would have no class 2 at all.
    assert memories[0] == memories[1]
    mem = memories[0]
    assert mem['writes'] == [2, 1, 1] and mem['ptr'] == [0, 1, 1]
    assert torch.allclose(torch.tensor(mem['entries']), torch.tensor(
        [[[1., 0], [0.8, 0.6]], [[0., 1], [0, 0]], [[-1., 0], [0, 0]]]))


def test_head_memories_stay_identical_across_two_ranks(monkeypatch):
    """Two heads as threads, the memory's all-gather replaced by an
    exchange of the real tensors between them."""
    from mmcast.models.utils import category_memory
    barrier, slots, local = threading.Barrier(2), [None, None], \
        threading.local()

    def exchange(t):
        barrier.wait()
        slots[local.rank] = t.clone()
        barrier.wait()
        got = [s.clone() for s in slots]
        barrier.wait()
        return got

    def gather(classes, entries):
        return gather_writes(classes, entries, gather=exchange,
                             world_size=2)

    monkeypatch.setattr(category_memory, 'gather_writes', gather)
    memories, errors = {}, []

    def rank(r):
        local.rank = r
        try:
            memories[r] = _train_head_as_rank(r)
        except Exception as e:  # surfaced below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=rank, args=(r, )) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    _check_synchronised_memories(memories)


@pytest.mark.slow
def test_head_memories_stay_identical_across_two_gloo_ranks():
    _check_synchronised_memories(run_on_two_gloo_ranks(_train_head_as_rank))


def test_gather_without_process_group_is_identity():
    c, e = torch.tensor([1]), torch.ones(1, 4)
    assert gather_writes(c, e)[0] is c and gather_writes(c, e)[1] is e


def test_head_on_cast_paints_superpixels():
    from mmcast.datasets.toy_scenes import render_scene
    from mmcast.datasets.transforms import Superpixels
    import numpy as np
    rng = np.random.default_rng(0)
    img, label = render_scene(rng, 48)
    sp = Superpixels(stride=8, append_to_img=False)(dict(img=img))
    x = torch.cat([torch.from_numpy(img).permute(2, 0, 1).float(),
                   torch.from_numpy(sp['superpixels'])[None].float()])
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='CASTSegDataPreProcessor', mean=[0] * 3,
                               std=[255] * 3, size=(48, 48)),
        backbone=dict(type='CAST', arch=dict(embed_dims=16, depths=[1] * 4,
                                             num_heads=2),
                      img_size=48, num_clusters=[16, 8, 4, 2],
                      with_fusion=True, pool_num_heads=2, out_type='raw'),
        decode_head=dict(type='LarvSegHead', in_channels=16, channels=16,
                         num_classes=4, vocab_size=5, memory_size=1,
                         topk=2, warmup=1)))
    s_mask = sample(mask=(label.astype(np.int64) - 1).clip(0, 4).tolist(),
                    shape=(48, 48))
    s_lab = sample(labels=[0, 3], shape=(48, 48))
    data = dict(inputs=[x, x.clone()], data_samples=[s_mask, s_lab])
    batch = model.data_preprocessor(data, training=True)
    for _ in range(2):
        losses = model.loss(**batch)
    assert set(losses) == {'decode.loss_seg', 'decode.loss_cls',
                           'decode.loss_aux'}
    assert losses['decode.loss_aux'] > 0
    model.eval()
    with torch.no_grad():
        logits = model(batch['inputs'][:1], mode='tensor')
    assert logits.shape == (1, 4, 48, 48)
    labels = batch['inputs'][0, 3].long()
    for k in labels.unique().tolist()[:10]:
        region = logits[0][:, labels == k]
        assert torch.allclose(region, region[:, :1].expand_as(region))


def test_head_on_vit_feature_map():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0] * 3,
                               std=[1] * 3, size=(32, 32)),
        backbone=dict(type='VisionTransformer', img_size=(32, 32),
                      patch_size=8, embed_dims=16, num_layers=1,
                      num_heads=2, out_indices=-1, final_norm=True),
        decode_head=dict(type='LarvSegHead', in_channels=16, channels=16,
                         num_classes=3, vocab_size=4, test_indices=[3, 0, 1],
                         memory_size=1, topk=2)))
    imgs = [torch.rand(3, 32, 32) * 255, torch.rand(3, 24, 32) * 255]
    samples = [sample(mask=torch.randint(0, 4, (32, 32)).tolist(),
                      shape=(32, 32)), sample(labels=[2], shape=(24, 32))]
    batch = model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                    training=True)
    for _ in range(2):
        losses = model.loss(**batch)
    assert losses['decode.loss_aux'] > 0
    model.eval()
    with torch.no_grad():
        out = model(batch['inputs'], mode='tensor')
    assert out.shape == (2, 3, 4, 4)
    head = model.decode_head
    view = head.tokens(model.extract_feat(batch['inputs']))
    _, cos = head.cosine(view)
    want = head.class_logits(cos[..., [3, 0, 1]])
    assert torch.allclose(out.flatten(2).transpose(1, 2), want, atol=1e-6)
