# Copyright (c) mmcast contributors. All rights reserved.
"""Leopart's evaluation: clustering mIoU of dense features (the shared
Hungarian / many-to-one matching), cluster-based foreground extraction,
co-occurrence communities and the fully unsupervised path."""
import numpy as np
import pytest

from mmcast.evaluation.community_detection import (cooccurrence_edges,
                                                   cooccurrence_matrix,
                                                   detect_communities,
                                                   merge_clusters)
from mmcast.evaluation.dense_clustering import (cluster_maps,
                                                clustering_miou,
                                                dense_clustering_miou)
from mmcast.evaluation.foreground_extraction import (
    cluster_foreground_precision, foreground_from_clusters,
    tune_precision_threshold)
from mmcast.evaluation.functional import hungarian_miou, many_to_one_miou
from mmcast.evaluation.unsupervised_segmentation import \
    FullyUnsupervisedSegmentation


def blobs(n=6, size=8, num_classes=3, dims=6, noise=0.05, seed=0):
    """Class maps (vertical bands) and features = class centre + noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (num_classes, dims))
    gts, feats = [], []
    for _ in range(n):
        cuts = np.sort(rng.choice(np.arange(1, size), num_classes - 1,
                                  replace=False))
        row = np.searchsorted(cuts, np.arange(size), side='right')
        gt = np.tile(row, (size, 1))
        gts.append(gt)
        feats.append(centres[gt] + rng.normal(0, noise, (size, size, dims)))
    return np.stack(feats).astype(np.float32), np.stack(gts)


def test_clustering_miou_matches_the_shared_functions():
    # hand case: clusters 0, 1 = class 1, 0; cluster 2 half class 0
    pred = np.array([[0, 0, 1, 1], [2, 2, 1, 1]])
    gt = np.array([[1, 1, 0, 0], [0, 1, 0, 0]])
    miou, mapping = clustering_miou([pred], [gt], 2, 'hungarian')
    ref, ref_map = hungarian_miou([pred], [gt], 2)
    assert miou == pytest.approx(ref) and np.array_equal(mapping, ref_map)
    assert mapping.tolist() == [1, 0, -1]
    # class 0: 4 right of 5, cluster 2 unmatched -> IoU 4/5 and 2/3
    assert miou == pytest.approx((4 / 5 + 2 / 3) / 2)
    miou, mapping = clustering_miou([pred], [gt], 2, 'many_to_one')
    assert miou == pytest.approx(many_to_one_miou([pred], [gt], 2)[0])
    assert mapping[:2].tolist() == [1, 0]


def test_dense_clustering_of_separable_features():
    feats, gts = blobs()
    scores = dense_clustering_miou(feats, list(gts), 3, ks=(3, 12),
                                   pca_dim=None, seeds=(0, 1))
    assert scores == {'hungarian@3': pytest.approx(1.),
                      'many_to_one@12': pytest.approx(1.)}
    # pure noise features are far from perfect
    noise = np.random.default_rng(1).normal(size=feats.shape)
    bad = dense_clustering_miou(noise.astype(np.float32), list(gts), 3,
                                ks=(3, ), pca_dim=None)
    assert bad['hungarian@3'] < 0.6
    # a mask leaves cells out
    mask = np.zeros(gts.shape, bool)
    mask[:, :, :4] = True
    maps = cluster_maps(feats, 3, None, mask=mask)
    assert (maps[~mask] == -1).all() and (maps[mask] >= 0).all()


def test_cooccurrence_matrix_hand_case():
    # neighbours at distance 1 in one row: 0-1, 1-2 (both directions)
    maps = [np.array([[0, 1, 2]]), np.array([[0, 0, 0]]),
            np.array([[-1, 1, 2]])]
    m = cooccurrence_matrix(maps[:2], 3, distances=[1])
    assert np.allclose(m, [[0, 1, 0], [.5, 0, .5], [0, 1, 0]])
    # the third image adds 1 <-> 2 (the "none" cell is no neighbour):
    # cluster 1 averages (0.5, 0, 0.5) and (0, 0, 1) over its two images
    m = cooccurrence_matrix(maps, 3, distances=[1])
    assert np.allclose(m, [[0, 1, 0], [.25, 0, .75], [0, 1, 0]])
    assert cooccurrence_edges(m, 0.3) == [(1, 2, 0.75)]
    assert cooccurrence_edges(m, 0.2) == [(0, 1, 0.25), (1, 2, 0.75)]


@pytest.mark.parametrize('method', ['infomap', 'louvain'])
def test_communities_of_two_cliques(method):
    pytest.importorskip('infomap' if method == 'infomap' else 'networkx')
    edges = [(0, 1, 1.), (1, 2, 1.), (0, 2, 1.), (3, 4, 1.), (4, 5, 1.),
             (3, 5, 1.), (2, 3, 0.05)]
    com = detect_communities(7, edges, method, seed=3)
    assert com.tolist() == [0, 0, 0, 1, 1, 1, 2]  # 6: no edge, alone
    merged = merge_clusters([np.array([[0, 4, -1], [6, 2, 5]])], com, 1)
    assert merged[0].tolist() == [[1, 2, -1], [3, 1, 2]]
    with pytest.raises(ValueError, match='seed'):
        detect_communities(7, edges, method, seed=0)


def test_cluster_based_foreground_extraction():
    # 4 clusters in 2 images; the attention foreground covers all of
    # cluster 2, all of 3 in one image and 5 of its 6 cells in the other,
    # 1 of the 3 cells of cluster 1 in one image and none in the other
    clusters = np.array([[[0, 0, 1, 1], [0, 1, 2, 2], [3, 3, 3, 3]],
                         [[0, 0, 1, 1], [3, 3, 2, 2], [3, 3, 3, 3]]])
    att = np.zeros(clusters.shape, bool)
    att[0] = clusters[0] >= 2
    att[0, 0, 2] = True
    att[1, 1] = True
    att[1, 2, :3] = True
    prec = cluster_foreground_precision(clusters, att, 5)
    assert prec.tolist() == pytest.approx([0, 1 / 6, 1, 11 / 12, 0])
    fg = foreground_from_clusters(clusters, prec, 0.5)
    assert np.array_equal(fg, clusters >= 2)
    truth = clusters == 2
    thr, iou = tune_precision_threshold(clusters, prec, truth,
                                        np.ones_like(truth),
                                        cut_range=(0.5, 1.))
    # cutting 3 of 5 clusters (0, 4, 1) keeps 2 and 3, cutting 4 keeps
    # only cluster 2 = the truth: threshold = its precision
    assert (thr, iou) == (1., 1.)


def test_fully_unsupervised_path_end_to_end():
    # background 0 (two kinds of stuff) and objects 1, 2; the attention
    # foreground is the objects with noise
    feats, gts = blobs(n=10, size=12, num_classes=4, dims=8, noise=0.1)
    gts = np.where(gts == 3, 0, gts)
    rng = np.random.default_rng(0)
    att = (gts > 0) ^ (rng.random(gts.shape) < 0.1)
    train = np.arange(10) < 6
    path = FullyUnsupervisedSegmentation(
        num_classes=3, k_foreground=8, k_parts=(6, ), markov_times=(1., ),
        weight_thresholds=(0.01, 0.05), num_objects=2, pca_dim=None,
        cut_range=(0.2, 0.9))
    out = path.run(feats, att, gts, train)
    assert out['cbfe_val_iou'] > 0.9
    assert out['predictions'].shape == gts.shape
    assert 0 <= out['miou'] <= 1 and out['num_communities'] >= 1
    assert out['weight_threshold'] in (0.01, 0.05)
    # merged parts beat chance clearly
    assert out['miou'] > 0.5
