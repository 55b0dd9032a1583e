# Copyright (c) mmcast contributors. All rights reserved.
"""mmcast.evaluation.functional against small cases computed by hand."""
import numpy as np
import pytest

from mmcast.evaluation.functional import (boundary_fscore, boundary_map,
                                          default_tolerance, hungarian_miou,
                                          majority_labels, many_to_one_miou,
                                          region_miou,
                                          segment_embeddings,
                                          segment_label_histogram,
                                          segment_retrieval)


def halves(h=8, w=8, col=4):
    m = np.zeros((h, w), np.int64)
    m[:, col:] = 1
    return m


# ----------------------------------------------------------------------
# Boundary F-score
def test_boundary_map_is_one_pixel_wide_on_a_straight_edge():
    b = boundary_map(halves())
    # The change between columns 3 and 4 marks both sides (16 pixels);
    # thinning keeps one pixel per row, in one column (it may shorten the
    # line's end by a pixel).
    assert b.sum(1).max() == 1 and b.sum() >= 7
    cols = np.nonzero(b.any(0))[0]
    assert len(cols) == 1 and cols[0] in (3, 4)


def test_boundary_identical_maps_score_one():
    gt = halves()
    assert boundary_fscore(gt, gt) == (1., 1., 1.)
    # Relabelling the segments changes nothing: only where labels change
    # matters.
    assert boundary_fscore(gt * 7 + 3, gt) == (1., 1., 1.)


def test_boundary_tolerance_decides_a_shifted_edge():
    gt, pred = halves(col=4), halves(col=7)  # the edge moved by 3 pixels
    f, p, r = boundary_fscore(pred, gt, tolerance=1)
    assert (f, p, r) == (0., 0., 0.)
    f, p, r = boundary_fscore(pred, gt, tolerance=3)
    assert (f, p, r) == (1., 1., 1.)


def brute_force_share(src, dst, tol):
    """Share of ``src`` pixels within ``tol`` of a ``dst`` pixel."""
    a, b = np.argwhere(src), np.argwhere(dst)
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1)
    return float((d <= tol).mean())


def test_boundary_partial_match_against_brute_force_distances():
    # gt: one vertical edge; pred: the same edge plus a horizontal edge
    # across the bottom right, far from the truth.
    gt = halves(col=4)
    pred = gt.copy()
    pred[6:, 4:] = 2
    for tol in (0, 1, 2.5):
        f, p, r = boundary_fscore(pred, gt, tolerance=tol)
        pb, gb = boundary_map(pred), boundary_map(gt)
        assert p == pytest.approx(brute_force_share(pb, gb, tol))
        assert r == pytest.approx(brute_force_share(gb, pb, tol))
        assert f == pytest.approx(2 * p * r / (p + r))
    f, p, r = boundary_fscore(pred, gt, tolerance=1)
    assert r == 1. and 0 < p < 1


def test_boundary_empty_sets():
    flat = np.zeros((6, 6), np.int64)
    assert boundary_fscore(flat, flat) == (1., 1., 1.)
    assert boundary_fscore(flat, halves(6, 6, 3)) == (0., 1., 0.)
    assert boundary_fscore(halves(6, 6, 3), flat) == (0., 0., 1.)


def test_boundary_ignores_void_pixels():
    gt = halves(col=4)
    gt[:, 3:5] = 255  # a void band where the edge is
    pred = halves(col=4)
    # Every predicted boundary pixel lies in the void band: none is left,
    # while the truth keeps the pixels beside its void band.
    f, p, r = boundary_fscore(pred, gt, tolerance=0)
    assert (f, p, r) == (0., 1., 0.)
    f, p, r = boundary_fscore(pred, gt, tolerance=2)
    assert (f, p, r) == (0., 1., 0.)
    # A prediction with its edge beside the band matches within 1 pixel.
    f, _, _ = boundary_fscore(halves(col=5), gt, tolerance=1.5)
    assert f > 0.6


def test_default_tolerance_is_bsds():
    assert default_tolerance((300, 400)) == pytest.approx(0.0075 * 500)


# ----------------------------------------------------------------------
# Region mIoU
def test_region_miou_oracle_hand_computed():
    gt = np.array([[0, 0, 1, 1],
                   [0, 0, 1, 1]])
    seg = np.array([[5, 5, 5, 9],
                    [5, 5, 5, 9]])  # segment 5 takes 0 (4 px vs 2)
    # pred: 0 0 0 1 / 0 0 0 1 -> IoU(0) = 4/6, IoU(1) = 2/4
    assert region_miou(seg, gt, 2) == pytest.approx((4 / 6 + 2 / 4) / 2)


def test_region_miou_ignores_void_and_counts_only_present_classes():
    gt = np.array([[0, 0, 255, 255]])
    seg = np.array([[1, 1, 1, 1]])
    # Class 1 (absent from gt and prediction) does not count; void pixels
    # are left out.
    assert region_miou(seg, gt, 3) == 1.0


def test_region_miou_reductions_differ_as_defined():
    gt_a = np.array([[0, 0, 0, 0]])
    seg_a = np.array([[0, 0, 0, 0]])  # perfect: 1.0
    gt_b = np.array([[0, 1, 1, 1]])
    seg_b = np.array([[0, 0, 0, 0]])  # all predicted 1: IoU0 0, IoU1 3/4
    per_image = (1.0 + (0 + 3 / 4) / 2) / 2
    assert region_miou([seg_a, seg_b], [gt_a, gt_b], 2) == \
        pytest.approx(per_image)
    # dataset: class 0: inter 4, union 4 + 1 = 5; class 1: inter 3, union
    # 4 (image b predicts 1 on its 4 pixels).
    assert region_miou([seg_a, seg_b], [gt_a, gt_b], 2,
                       reduction='dataset') == pytest.approx(
                           (4 / 5 + 3 / 4) / 2)


def test_region_miou_with_a_callable_labeller():
    gt = np.array([[0, 0, 1, 1]])
    seg = np.array([[0, 0, 1, 1]])
    # A namer that swaps the names: everything wrong.
    assert region_miou(seg, gt, 2, labeller=lambda i, s: np.array([1, 0])) \
        == 0.
    with pytest.raises(ValueError, match='labeller'):
        region_miou(seg, gt, 2, labeller='nearest')
    with pytest.raises(ValueError, match='reduction'):
        region_miou(seg, gt, 2, reduction='pixel')


def test_majority_labels_ties_and_void():
    hist = np.array([[2, 2, 0], [0, 0, 0], [0, 1, 3]])
    assert majority_labels(hist).tolist() == [0, -1, 2]
    # Mostly void segments are dropped when asked (4 labelled of 10 px).
    assert majority_labels(hist, 0.5, sizes=np.array([10, 1, 4])).tolist() \
        == [-1, -1, 2]


def test_histogram_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match='gt labels'):
        segment_label_histogram(np.zeros((2, 2), int), np.full((2, 2), 7), 3)


# ----------------------------------------------------------------------
# Clustering
def test_hungarian_is_permutation_invariant_and_returns_the_mapping():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (12, 12))
    perm = np.array([2, 0, 1])
    pred = perm[gt]
    miou, mapping = hungarian_miou(pred, gt, 3)
    assert miou == 1.
    assert mapping[perm].tolist() == [0, 1, 2]


def test_hungarian_hand_computed_with_ignore():
    gt = np.array([[0, 0, 0, 1, 1, 255]])
    pred = np.array([[1, 1, 0, 0, 0, 0]])
    # confusion (cluster x class): c0 -> [1, 2], c1 -> [2, 0]
    # best one-to-one: c1->0, c0->1 (total 4).
    miou, mapping = hungarian_miou(pred, gt, 2)
    assert mapping.tolist() == [1, 0]
    # class 0: inter 2, union 3 + 2 - 2 = 3; class 1: inter 2, union 2+3-2
    assert miou == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_many_to_one_over_clustering():
    gt = np.array([[0, 0, 0, 1, 1, 1]])
    pred = np.array([[0, 1, 2, 3, 3, 4]])  # 5 clusters, each pure
    miou, mapping = many_to_one_miou(pred, gt, 2)
    assert miou == 1.
    assert mapping.tolist() == [0, 0, 0, 1, 1]
    # Hungarian with 5 clusters for 2 classes leaves 3 unmatched: worse.
    assert hungarian_miou(pred, gt, 2)[0] < 1.


# ----------------------------------------------------------------------
# Retrieval
def test_segment_embeddings_average_normalised_features():
    feats = np.array([[3., 0.], [0., 5.], [2., 0.]])
    emb = segment_embeddings(feats, np.array([0, 0, 1]))
    assert np.allclose(emb, [[0.5, 0.5], [1., 0.]])
    emb = segment_embeddings(feats, np.array([0, 0, 1]),
                             weights=np.array([3., 1., 1.]))
    assert np.allclose(emb[0], [0.75, 0.25])
    # Unit means given as they are (no second normalisation).
    emb = segment_embeddings(feats, np.array([0, 0, 1]), normalize=False)
    assert np.allclose(emb, [[1.5, 2.5], [2., 0.]])


def test_retrieval_votes_and_ties_to_the_lowest_class():
    bank = np.array([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
    labels = np.array([3, 3, 1, 1])
    q = np.array([[1., 0.05], [0.05, 1.], [1., 1.]])
    assert segment_retrieval(q, bank, labels, k=2).tolist() == [3, 1, 1]
    # k = 4: every query gets two votes each for 1 and 3: tie -> 1.
    assert segment_retrieval(q, bank, labels, k=4).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match='bank'):
        segment_retrieval(q, bank[:0], labels[:0])
