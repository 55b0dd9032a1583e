# Copyright (c) mmcast contributors. All rights reserved.
"""CAST backbone and GraphPool: padding, robustness, options."""
import pytest
import torch

from mmcast.models import CAST, GraphPool
from mmcast.models.utils import farthest_point_sampling, relabel_superpixels

ATOL = 1e-4
TINY = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2)


def tiny(**kwargs):
    cfg = dict(arch=TINY, img_size=32, num_clusters=[8, 4, 2, 1],
               pool_num_heads=2, out_type='raw')
    cfg.update(kwargs)
    model = CAST(**cfg)
    model.init_weights()
    return model.eval()


def grid_superpixels(size, cells):
    """(size, size) map of cells x cells square superpixels."""
    step = size // cells
    ids = torch.arange(cells * cells).view(cells, cells)
    return ids.repeat_interleave(step, 0).repeat_interleave(step, 1)


def assert_same_image_result(full, alone, b):
    """Image ``b`` of a padded batch ``full`` against its own run."""
    n0 = int(alone['num_superpixels'][0])
    assert int(full['num_superpixels'][b]) == n0
    torch.testing.assert_close(full['cls_feat'][b], alone['cls_feat'][0],
                               atol=ATOL, rtol=0)
    for sf, sa in zip(full['stages'], alone['stages']):
        n = sa['tokens'].shape[1]
        k = sa['logits'].shape[2]
        assert not sf['mask'][b, :n].any() and sf['mask'][b, n:].all()
        torch.testing.assert_close(sf['tokens'][b, :n], sa['tokens'][0],
                                   atol=ATOL, rtol=0)
        torch.testing.assert_close(sf['logits'][b, :n, :k], sa['logits'][0],
                                   atol=ATOL, rtol=0)
        assert torch.equal(sf['fps_idx'][b, :k], sa['fps_idx'][0])
        torch.testing.assert_close(sf['pooled'][b, :k], sa['pooled'][0],
                                   atol=ATOL, rtol=0)
    for hf, ha in zip(full['hierarchy'], alone['hierarchy']):
        assert torch.equal(hf[b, :n0], ha[0])
    if 'fused_tokens' in alone:
        torch.testing.assert_close(full['fused_tokens'][b, :n0],
                                   alone['fused_tokens'][0], atol=ATOL,
                                   rtol=0)


@pytest.mark.parametrize('pooling', ['stem', 'full'])
def test_padded_batch_equals_each_image_alone(pooling):
    torch.manual_seed(0)
    model = tiny(token_pooling=pooling, with_fusion=pooling == 'full')
    img = torch.randn(2, 3, 32, 32)
    # 16 superpixels in image 0, 4 in image 1 (fewer than stage 1 asks
    # for), with ids that are neither contiguous nor small.
    sp = torch.stack([grid_superpixels(32, 4) * 7 + 3,
                      grid_superpixels(32, 2) * 1000003])
    with torch.no_grad():
        full = model(img, sp)
        for b in range(2):
            alone = model(img[b:b + 1], sp[b:b + 1])
            assert_same_image_result(full, alone, b)
    # Image 1 has 4 superpixels: stage 1 keeps 4 clusters, the other 4
    # slots are padding with -inf logits and no assignment.
    s1 = full['stages'][0]
    assert s1['logits'].shape[-1] == 8
    assert torch.isinf(s1['logits'][1, :4, 4:]).all()
    assert (full['hierarchy'][1][1, :4] < 4).all()


def test_padding_is_masked_not_just_zero():
    """A padded token must not change the valid tokens (the release lets
    zero tokens attend; mmcast masks them)."""
    torch.manual_seed(0)
    model = tiny()
    img = torch.randn(1, 3, 32, 32)
    sp = grid_superpixels(32, 4)[None]
    with torch.no_grad():
        ref = model(img, sp)
        emb = model.embed(img, sp)
        # Append a padding token with garbage content by hand.
        emb_tokens = torch.cat([emb['tokens'], 1e3 * torch.ones(1, 1, 32)],
                               1)
        mask = torch.cat([emb['mask'], torch.ones(1, 1, dtype=torch.bool)], 1)
        stage = model.stages[0]
        x = torch.cat([model.cls_token.expand(1, -1, -1), emb_tokens], 1)
        key_mask = torch.cat([torch.zeros(1, 1, dtype=torch.bool), mask], 1)
        for blk in stage.blocks:
            x = blk(x, key_mask)
        pooled = stage.pool(x[:, 1:], x[:, :1], mask, 8)
    torch.testing.assert_close(x[:, 1:17], ref['stages'][0]['tokens'],
                               atol=ATOL, rtol=0)
    torch.testing.assert_close(pooled['tokens'], ref['stages'][0]['pooled'],
                               atol=ATOL, rtol=0)
    assert not (pooled['fps_idx'] == 16).any()


def test_relabel_handles_large_and_sparse_ids():
    sp = torch.tensor([[[5, 5, 2**40], [-1, 2**40, 9]],
                       [[7, 7, 7], [7, 7, 7]]])
    labels, counts = relabel_superpixels(sp)
    assert counts.tolist() == [3, 1]
    assert labels.tolist() == [[[0, 0, 2], [-1, 2, 1]], [[0, 0, 0],
                                                         [0, 0, 0]]]


def test_model_output_invariant_to_label_ids():
    torch.manual_seed(0)
    model = tiny()
    img = torch.randn(1, 3, 32, 32)
    sp = grid_superpixels(32, 4)[None]
    # A permutation-preserving (monotone) map to huge sparse ids.
    big = sp * 2**35 + 11
    with torch.no_grad():
        a, b = model(img, sp), model(img, big)
    torch.testing.assert_close(a['cls_feat'], b['cls_feat'], atol=0, rtol=0)
    assert torch.equal(a['hierarchy'][-1], b['hierarchy'][-1])


def test_constant_image_ties():
    model = tiny()
    img = torch.zeros(2, 3, 32, 32)
    sp = grid_superpixels(32, 4).expand(2, -1, -1)
    with torch.no_grad():
        out = model(img, sp)
    for s in out['stages']:
        idx = s['fps_idx']
        # All tokens are equal: FPS still picks distinct tokens.
        for b in range(2):
            assert idx[b].unique().numel() == idx.shape[1]
        assert torch.isfinite(s['pooled']).all()
    assert torch.isfinite(out['cls_feat']).all()


def test_single_superpixel():
    model = tiny(with_fusion=True, token_pooling='full')
    img = torch.randn(1, 3, 32, 32)
    sp = torch.full((1, 32, 32), 42)
    with torch.no_grad():
        out = model(img, sp)
    assert [s['logits'].shape[-1] for s in out['stages']] == [1, 1, 1, 1]
    assert all(h.tolist() == [[0]] for h in out['hierarchy'])
    assert torch.isfinite(out['fused_tokens']).all()


@pytest.mark.parametrize('pooling', ['stem', 'full'])
def test_one_by_one_stem_grid(pooling):
    """An 8x8 image gives a 1x1 stem grid."""
    model = tiny(token_pooling=pooling)
    img = torch.randn(1, 3, 8, 8)
    sp = grid_superpixels(8, 2)[None]
    with torch.no_grad():
        out = model(img, sp)
    mask = out['stages'][0]['mask'][0]
    if pooling == 'stem':
        # Only the superpixel under the single grid cell has pixels there.
        assert mask.tolist() == [False, True, True, True]
    else:
        assert not mask.any()
    assert torch.isfinite(out['cls_feat']).all()


def test_bf16_autocast_forward_is_finite():
    model = tiny(with_fusion=True, token_pooling='full')
    img = torch.randn(2, 3, 32, 32)
    sp = torch.stack([grid_superpixels(32, 4), grid_superpixels(32, 2)])
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(img, sp)
    assert torch.isfinite(out['cls_feat'].float()).all()
    assert torch.isfinite(out['fused_tokens'].float()).all()
    for s in out['stages']:
        assert torch.isfinite(s['pooled'].float()).all()


def test_gradients_flow_through_every_level():
    torch.manual_seed(0)
    model = tiny(with_fusion=True, token_pooling='full').train()
    img = torch.randn(2, 3, 32, 32, requires_grad=True)
    sp = torch.stack([grid_superpixels(32, 4), grid_superpixels(32, 2)])
    out = model(img, sp)
    loss = out['cls_feat'].pow(2).sum() + out['fused_tokens'].pow(2).sum()
    loss = loss + sum(s['pooled'].pow(2).sum() for s in out['stages'])
    loss.backward()
    assert torch.isfinite(img.grad).all() and img.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    for i, stage in enumerate(model.stages):
        g = stage.blocks[0].attn.qkv.weight.grad
        assert g.abs().sum() > 0, f'no gradient into stage {i}'


def test_num_clusters_override_per_call_and_config():
    model = tiny(num_clusters=[8, 4, 2, 1])
    img = torch.randn(1, 3, 32, 32)
    sp = grid_superpixels(32, 4)[None]
    with torch.no_grad():
        a = model(img, sp)
        b = model(img, sp, num_clusters=[6, 3, 3, 2])
    assert [s['logits'].shape[-1] for s in a['stages']] == [8, 4, 2, 1]
    assert [s['logits'].shape[-1] for s in b['stages']] == [6, 3, 3, 2]
    # The first stage's tokens do not depend on the cluster counts.
    torch.testing.assert_close(a['stages'][0]['tokens'],
                               b['stages'][0]['tokens'])
    model.num_clusters = [5, 2, 2, 2]
    with torch.no_grad():
        c = model(img, sp)
    assert [s['logits'].shape[-1] for s in c['stages']] == [5, 2, 2, 2]


def test_hierarchy_is_nested_chain_of_argmax():
    torch.manual_seed(1)
    model = tiny()
    img = torch.randn(1, 3, 32, 32)
    sp = grid_superpixels(32, 4)[None]
    with torch.no_grad():
        out = model(img, sp)
    h = out['hierarchy']
    assert h[0].tolist() == [list(range(16))]
    lab = torch.arange(16)
    for level, s in enumerate(out['stages'], 1):
        lab = s['logits'][0].argmax(-1)[lab]
        assert torch.equal(h[level][0], lab)


def test_featmap_output_paints_tokens_on_the_grid():
    torch.manual_seed(0)
    model = tiny(out_type='featmap')
    raw = tiny(out_type='raw')
    raw.load_state_dict(model.state_dict())
    img = torch.randn(1, 3, 32, 32)
    sp = grid_superpixels(32, 2)[None]  # 16x16 superpixels, grid 4x4
    with torch.no_grad():
        maps = model(img, sp)
        out = raw(img, sp)
    assert len(maps) == 4 and maps[0].shape == (1, 32, 4, 4)
    # Grid cell (0, 0) lies in superpixel 0, cell (3, 3) in superpixel 3.
    torch.testing.assert_close(maps[0][0, :, 0, 0],
                               out['stages'][0]['tokens'][0, 0])
    torch.testing.assert_close(maps[0][0, :, 3, 3],
                               out['stages'][0]['tokens'][0, 3])
    seg = out['hierarchy'][2][0, 3]
    torch.testing.assert_close(maps[2][0, :, 3, 3],
                               out['stages'][2]['tokens'][0, seg])


def test_frozen_stages():
    model = CAST(arch=TINY, img_size=32, num_clusters=[8, 4, 2, 1],
                 pool_num_heads=2, frozen_stages=2)
    model.train()
    assert not model.stem[0].bn.training
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.stages[1].parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    probe = CAST(arch=TINY, img_size=32, pool_num_heads=2, frozen_stages=4)
    assert not any(p.requires_grad for p in probe.parameters())


def test_missing_superpixels_error():
    model = tiny(missing_superpixels='error')
    with pytest.raises(ValueError, match="type='Superpixels'"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r'shape \(1, 2, 32, 32\)'):
        tiny()(torch.randn(1, 2, 32, 32))
    with pytest.raises(ValueError, match='do not match'):
        model(torch.randn(1, 3, 32, 32), torch.zeros(1, 16, 16))


def test_graph_pool_as_neck_on_a_feature_map():
    torch.manual_seed(0)
    neck = GraphPool(embed_dims=16, num_clusters=5, num_heads=2).eval()
    fmap = torch.randn(2, 16, 4, 6)
    with torch.no_grad():
        out, = neck((torch.randn(2, 16, 8, 8), fmap))
    assert out['tokens'].shape == (2, 5, 16)
    assert out['logits'].shape == (2, 24, 5)
    # The sampled tokens are the FPS picks of the flattened map.
    idx, _ = farthest_point_sampling(fmap.flatten(2).transpose(1, 2), 5)
    assert torch.equal(out['fps_idx'], idx)
    # Each sampled token is most similar to itself: assigned to its own
    # cluster.
    rows = out['logits'][torch.arange(2)[:, None], out['fps_idx']]
    assert torch.equal(rows.argmax(-1), torch.arange(5).expand(2, -1))


def test_fps_matches_a_direct_reference():
    torch.manual_seed(3)
    pts = torch.randn(3, 20, 5)
    idx, pad = farthest_point_sampling(pts, 6)
    assert not pad.any()
    for b in range(3):
        p = pts[b].double()
        dist = (p - p.mean(0)).pow(2).sum(-1)
        ref = []
        for _ in range(6):
            i = int(dist.argmax())
            ref.append(i)
            dist = torch.minimum(dist, (p - p[i]).pow(2).sum(-1))
        assert idx[b].tolist() == ref

