# Copyright (c) mmcast contributors. All rights reserved.
"""The token poolings of CAST's stages (Table 5a/5b) and pooling switched
off (Table 3a's superpixel row): hand-computed cases, and every pooling
keeping CAST's nested hierarchy and hypercolumn working."""
import math

import pytest
import torch

from mmcast.models import CAST
from mmcast.models.necks import (GraphPool, IdentityPool, KMeansPool,
                                 RandomSamplingPool, ToMePool)
from mmcast.models.necks.tome_pool import bipartite_merge
from mmcast.models.utils import (build_token_pool, chain_assignments,
                                 random_token_sampling)
from tests.test_cast_backbone import grid_superpixels

POOLINGS = {
    'graph_pool': dict(type='GraphPool'),
    'graph_pool_random_init': dict(type='GraphPool', centroid_init='random'),
    'kmeans': dict(type='KMeansPool'),
    'random_sampling': dict(type='RandomSamplingPool'),
    'tome': dict(type='ToMePool'),
    'none': None,
}


def tiny_cast(pooling, **kwargs):
    cfg = dict(arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2),
               img_size=32, num_clusters=[8, 4, 2, 1], pool_num_heads=2,
               pooling=pooling, out_type='raw')
    cfg.update(kwargs)
    model = CAST(**cfg)
    model.init_weights()
    return model


def directions(*angles):
    """Unit 2-D tokens at the given angles (degrees), ``(1, n, 2)``."""
    rad = torch.tensor(angles, dtype=torch.float32) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], -1)[None]


def test_random_token_sampling_draws_distinct_valid_tokens():
    mask = torch.tensor([[False] * 6, [False, True, False, True, True,
                                       True]])
    gen = torch.Generator().manual_seed(3)
    idx, pad = random_token_sampling(mask, 4, gen)
    assert len(set(idx[0].tolist())) == 4 and not pad[0].any()
    # Image 1 has two valid tokens: both drawn, two padded slots (index 0).
    assert set(idx[1, :2].tolist()) == {0, 2}
    assert pad[1].tolist() == [False, False, True, True]
    assert idx[1, 2:].tolist() == [0, 0]
    draws = {tuple(random_token_sampling(mask, 4, torch.Generator(
    ).manual_seed(s))[0][0].tolist()) for s in range(20)}
    assert len(draws) > 5  # random, not FPS
    again, _ = random_token_sampling(mask, 4,
                                     torch.Generator().manual_seed(3))
    assert torch.equal(again, idx)
    with pytest.raises(ValueError, match='cannot draw'):
        random_token_sampling(mask, 7)


def test_graph_pool_random_centroids():
    x = torch.randn(2, 10, 8)
    pool = GraphPool(8, 4, num_heads=2, centroid_init='random').eval()
    with torch.no_grad():
        torch.manual_seed(0)
        a = pool.pool(x)
        torch.manual_seed(0)
        b = pool.pool(x)
        c = pool.pool(x)
    assert torch.equal(a['fps_idx'], b['fps_idx'])
    assert not torch.equal(a['fps_idx'], c['fps_idx'])
    # Each sampled token joins its own cluster, as with FPS.
    rows = a['logits'][torch.arange(2)[:, None], a['fps_idx']]
    assert torch.equal(rows.argmax(-1), torch.arange(4).expand(2, -1))
    with pytest.raises(ValueError, match='centroid_init'):
        GraphPool(8, 4, num_heads=2, centroid_init='kmeans++')


def test_kmeans_pool_finds_the_direction_clusters():
    # Three bundles of directions around 0, 120 and 240 degrees; FPS seeds
    # one token per bundle and Lloyd steps keep them.
    x = directions(0, 10, -10, 120, 130, 110, 240, 250)
    x = x * torch.tensor([1., 2., 3., 1., 2., 3., 1., 2.])[None, :, None]
    x.requires_grad_(True)
    out = KMeansPool(2, 3, num_iters=5).pool(x)
    assign = out['logits'].argmax(-1)[0]
    groups = [assign[0], assign[3], assign[6]]
    assert len({int(g) for g in groups}) == 3
    assert assign.tolist() == [groups[0]] * 3 + [groups[1]] * 3 + \
        [groups[2]] * 2
    # Segment tokens are the plain means of their members' tokens.
    torch.testing.assert_close(out['tokens'][0, groups[0]],
                               x[0, :3].mean(0))
    torch.testing.assert_close(out['tokens'][0, groups[2]],
                               x[0, 6:].mean(0))
    # Logits are kappa * cosine to the unit centroids.
    assert float(out['logits'].max()) <= 5 + 1e-5
    out['tokens'].sum().backward()
    assert x.grad.abs().sum() > 0
    assert out['cls_token'] is None


def test_random_sampling_pool_keeps_tokens_and_assigns_to_nearest():
    torch.manual_seed(1)
    x = directions(0, 90, 180, 270, 45)
    out = RandomSamplingPool(2, 2).pool(x)
    kept = out['fps_idx'][0]
    torch.testing.assert_close(out['tokens'][0], x[0, kept])
    assign = out['logits'].argmax(-1)[0]
    cos = x[0] @ x[0, kept].t()
    assert torch.equal(assign, cos.argmax(-1))
    assert assign[kept].tolist() == [0, 1]
    cls = torch.randn(1, 1, 2)
    assert RandomSamplingPool(2, 2).pool(x, cls)['cls_token'] is cls


def test_bipartite_merge_hand_case():
    # A = tokens 0, 2; B = tokens 1, 3.  Token 0 is closest to 1 and token 2
    # to 3, both at the same cosine; K = 3 merges one link: the first.
    x = torch.tensor([[1., 0.], [1., .1], [0., 1.], [.1, 1.]])
    out, size, label = bipartite_merge(x, torch.ones(4), 3)
    # New order: [unmerged A; B] = [x2, merge(x0, x1), x3].
    torch.testing.assert_close(out, torch.stack(
        [x[2], (x[0] + x[1]) / 2, x[3]]))
    assert size.tolist() == [1., 2., 1.]
    assert label.tolist() == [1, 1, 0, 2]
    # K = 2 merges both links in the same round.
    out, size, label = bipartite_merge(x, torch.ones(4), 2)
    torch.testing.assert_close(out, torch.stack(
        [(x[0] + x[1]) / 2, (x[2] + x[3]) / 2]))
    assert label.tolist() == [0, 0, 1, 1]
    # Merged tokens are size-weighted means (ToMe's proportional average).
    out, size, _ = bipartite_merge(x[:2], torch.tensor([3., 1.]), 1)
    torch.testing.assert_close(out[0], (3 * x[0] + x[1]) / 4)
    assert size.tolist() == [4.]


def test_tome_pool_rounds_reach_k_and_respect_padding():
    torch.manual_seed(0)
    x = torch.randn(2, 20, 8)
    mask = torch.zeros(2, 20, dtype=torch.bool)
    mask[1, 5:] = True  # image 1: 5 valid tokens
    out = ToMePool(8, 6).pool(x, None, mask)
    # 20 -> 10 (one round merges at most half) -> 6.
    assert out['tokens'].shape == (2, 6, 8) and not out['mask'][0].any()
    assign = out['logits'].argmax(-1)
    assert set(assign[0].tolist()) == set(range(6))
    # Image 1 keeps its 5 valid tokens unmerged, one padded slot.
    assert out['mask'][1].tolist() == [False] * 5 + [True]
    assert sorted(assign[1, :5].tolist()) == list(range(5))
    torch.testing.assert_close(out['tokens'][1, assign[1, :5]], x[1, :5])
    assert torch.isinf(out['logits'][1, :, 5]).all()
    # Each segment token is the mean of its members (all sizes start at 1).
    for k in range(6):
        torch.testing.assert_close(out['tokens'][0, k],
                                   x[0, assign[0] == k].mean(0))
    # Seeds are the first member of every segment.
    for k in range(6):
        assert int(out['fps_idx'][0, k]) == int(
            (assign[0] == k).nonzero()[0])


def test_identity_pool_keeps_every_token():
    x = torch.randn(2, 5, 4)
    mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
    cls = torch.randn(2, 1, 4)
    pool = build_token_pool(None, 4, 64)
    assert isinstance(pool, IdentityPool) and pool.num_clusters is None
    out = pool.pool(x, cls, mask)
    assert out['tokens'] is x and out['cls_token'] is cls
    assert torch.equal(out['mask'], mask)
    assert torch.equal(out['logits'].argmax(-1)[0], torch.arange(5))
    assert torch.equal(out['logits'].argmax(-1)[1, :3], torch.arange(3))
    assert torch.isinf(out['logits'][1, :, 3:]).all()
    assert torch.isfinite(out['logits'].softmax(-1)).all()


def test_build_token_pool_hands_on_backbone_settings():
    pool = build_token_pool(dict(type='GraphPool'), 16, 5, num_heads=4,
                            kappa=7., qkv_bias=False)
    assert pool.refine.attn.num_heads == 4 and pool.kappa == 7.
    assert pool.refine.attn.qkv.bias is None and pool.num_clusters == 5
    # A pooling takes only the settings it declares.
    pool = build_token_pool(dict(type='KMeansPool', num_iters=2), 16, 5,
                            num_heads=4, kappa=3.)
    assert pool.kappa == 3. and pool.num_iters == 2
    with pytest.raises(TypeError, match='not a registered TokenPool'):
        build_token_pool(dict(type='TransformerBlock'), 16, 5)
    with pytest.raises(KeyError, match='needs a type'):
        build_token_pool(dict(num_iters=2), 16, 5)


@pytest.mark.parametrize('name', sorted(POOLINGS))
def test_every_pooling_keeps_the_hierarchy_and_hypercolumn(name):
    """Any pooling gives nested levels, a padded batch equal to its images
    alone, the fused hypercolumn, and gradients to every stage's blocks."""
    torch.manual_seed(0)
    model = tiny_cast(POOLINGS[name], with_fusion=True).eval()
    img = torch.randn(2, 3, 32, 32)
    sp = torch.stack([grid_superpixels(32, 4), grid_superpixels(32, 2)])
    with torch.no_grad():
        torch.manual_seed(1)
        full = model(img, sp)
    sizes = [16] * 5 if name == 'none' else [16, 8, 4, 2, 1]
    for level, size in zip(full['hierarchy'], sizes):
        assert int(level[0].max()) < size
        assert (level[1, 4:] == -1).all()  # image 1: 4 superpixels
    for fine, coarse in zip(full['hierarchy'][:-1], full['hierarchy'][1:]):
        # Nested: every finer segment lies in one coarser segment.
        for b in range(2):
            pairs = set(zip(fine[b].tolist(), coarse[b].tolist()))
            assert len({f for f, _ in pairs}) == len(pairs)
    assert full['fused_tokens'].shape == (2, 16, 32)
    assert (full['fused_tokens'][1, 4:] == 0).all()
    if name in ('graph_pool', 'kmeans', 'tome', 'none'):  # deterministic
        with torch.no_grad():
            alone = model(img[1:], sp[1:])
        for hf, ha in zip(full['hierarchy'], alone['hierarchy']):
            assert torch.equal(hf[1, :4], ha[0])
        torch.testing.assert_close(full['fused_tokens'][1, :4],
                                   alone['fused_tokens'][0], atol=1e-4,
                                   rtol=0)
    model.train()
    out = model(img, sp)
    (out['fused_tokens'].sum() + out['cls_feat'].sum()).backward()
    for stage in model.stages:
        grad = stage.blocks[0].attn.qkv.weight.grad
        assert grad is not None and grad.abs().sum() > 0


def test_pooling_off_keeps_the_superpixel_tokens_to_the_end():
    """CAST Table 3a's "superpixel, no pooling": 196 superpixel tokens at
    224 through every stage, and the tokens are those of pooled CAST."""
    torch.manual_seed(0)
    arch = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2)
    off = CAST(arch=arch, pooling=None, pool_num_heads=2, out_type='raw')
    on = CAST(arch=arch, pool_num_heads=2, out_type='raw')
    off.init_weights()
    on.load_state_dict(off.state_dict(), strict=False)
    assert off.num_clusters == [None] * 4
    img = torch.randn(1, 3, 224, 224)
    sp = grid_superpixels(224, 14)[None]  # 196 superpixels
    with torch.no_grad():
        out = off.eval()(img, sp)
        emb_on = on.eval().embed(img, sp)
        emb_off = off.embed(img, sp)
    assert [s['tokens'].shape[1] for s in out['stages']] == [196] * 4
    assert [s['pooled'].shape[1] for s in out['stages']] == [196] * 4
    for level in out['hierarchy']:
        assert torch.equal(level, torch.arange(196)[None])
    torch.testing.assert_close(emb_off['tokens'], emb_on['tokens'])
    # The tokens are superpixel means on the stem's stride-8 grid, with the
    # position table of that grid: no 16-pixel embedding on an 8-pixel grid
    # (the release's vits_suppix.py bug).
    assert off.patch_size == 8 and out['feat_size'] == (28, 28)
    assert off.grid_size == (28, 28) and off.pos_embed.shape == (1, 784, 32)
    feats = off.stem(img)
    assert feats.shape[-2:] == (28, 28)
    cell = feats[0, :, :2, :2].mean((1, 2))  # superpixel 0: 2x2 cells
    pos = off._position_map()[0, :, :2, :2].mean((1, 2))
    torch.testing.assert_close(emb_off['tokens'][0, 0], cell + pos,
                               atol=1e-5, rtol=0)
    # The hierarchy API counts the unpooled levels as superpixels.
    from mmcast.models.segmentors import cast_hierarchy
    res = cast_hierarchy(off.eval(), img, sp)[0]
    assert res['level_sizes'] == [196] * 5


def test_patch_stem_grid_and_position_table():
    model = CAST(arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2),
                 stem='patch', patch_size=16, pos_embed='learned',
                 pool_num_heads=2)
    assert model.patch_size == 16 and model.grid_size == (14, 14)
    assert model.pos_embed.shape == (1, 1 + 196, 32)
    assert model.stem(torch.randn(1, 3, 224, 224)).shape == (1, 32, 14, 14)
    with pytest.raises(ValueError, match='stem must be one of'):
        CAST(arch=dict(embed_dims=32, depths=[1], num_heads=2),
             num_clusters=[4], stem='swin')
