# Copyright (c) mmcast contributors. All rights reserved.
"""Merging part clusters into objects without labels (Leopart, sec. 3.3).

Clusters that often touch in the images are parts of one object: a graph
whose nodes are clusters and whose edges weigh how often two clusters are
neighbours, split into communities (Infomap; networkx's Louvain as an
alternative), gives a many-to-one map from clusters to objects that uses
no label.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'cooccurrence_matrix', 'cooccurrence_edges', 'detect_communities',
    'merge_clusters'
]

#: The 8-neighbourhood of the co-occurrence counts (the release's angles).
ANGLES = (0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi, 4 * np.pi / 3,
          3 * np.pi / 2, 7 * np.pi / 4)


def cooccurrence_matrix(clusters: Sequence[np.ndarray],
                        num_clusters: int,
                        distances: Sequence[int] = (1, 2)) -> np.ndarray:
    """How often each cluster neighbours each other one, per image.

    Per image: the grey-level co-occurrence counts of the cluster map
    (``skimage.feature.graycomatrix``, the given pixel ``distances`` in 8
    directions), without the diagonal, each row normalised to sum 1; the
    rows are summed over images and divided by the number of images in
    which the cluster has a neighbour.

    Args:
        clusters (Sequence[np.ndarray]): ``(H, W)`` cluster ids in ``[0,
            num_clusters)`` (negative: none, ignored).
        num_clusters (int): nodes.
        distances (Sequence[int]): neighbour distances. Defaults to (1, 2).

    Returns:
        np.ndarray: ``(num_clusters, num_clusters)`` float64, rows in
        ``[0, 1]``: the mean share of a cluster's neighbours that belong to
        each other cluster.
    """
    from skimage.feature import graycomatrix
    total = np.zeros((num_clusters, num_clusters))
    seen = np.zeros(num_clusters)
    levels = num_clusters + 1  # one more level for "none"
    for cmap in clusters:
        cmap = np.asarray(cmap)
        if cmap.size and (cmap.max() >= num_clusters):
            raise ValueError(f'cluster id {cmap.max()} >= {num_clusters}')
        img = np.where(cmap < 0, num_clusters, cmap).astype(
            np.uint8 if levels <= 256 else np.uint16)
        counts = graycomatrix(img, list(distances), list(ANGLES),
                              levels=levels).sum(axis=(2, 3)).astype(float)
        counts = counts[:num_clusters, :num_clusters]
        np.fill_diagonal(counts, 0)
        rows = counts.sum(1)
        total += np.divide(counts, rows[:, None], out=np.zeros_like(counts),
                           where=rows[:, None] > 0)
        seen += rows > 0
    return total / np.maximum(seen, 1)[:, None]


def cooccurrence_edges(matrix: np.ndarray, weight_threshold: float
                       ) -> List[Tuple[int, int, float]]:
    """Undirected edges of clusters that neighbour each other both ways.

    An edge ``(i, j)`` exists when ``matrix[i, j]`` and ``matrix[j, i]``
    both reach ``weight_threshold``; its weight is the smaller of the two.

    Returns:
        list[tuple[int, int, float]]: ``(i, j, weight)`` with ``i < j``.
    """
    m = np.asarray(matrix)
    both = np.minimum(m, m.T)
    i, j = np.nonzero(np.triu(both >= weight_threshold, k=1))
    return [(int(a), int(b), float(both[a, b])) for a, b in zip(i, j)]


def _infomap(num_nodes, edges, markov_time, seed, num_modules):
    try:
        import infomap
    except ImportError:
        raise ImportError('community detection with Infomap needs pypi '
                          "'infomap' (pip install 'infomap>=2,<3'), or use "
                          "method='louvain' (networkx)") from None
    args = f'--two-level --silent --seed {seed} --markov-time {markov_time}'
    if num_modules:
        args += f' --preferred-number-of-modules {num_modules}'
    im = infomap.Infomap(args)
    for a, b, w in edges:
        im.add_link(a, b, w)
    result = im.run()
    if result is not None and callable(getattr(result, 'modules', None)):
        return dict(result.modules())  # infomap >= 2.16
    return dict(im.get_modules())


def _louvain(num_nodes, edges, markov_time, seed):
    import networkx as nx
    graph = nx.Graph()
    graph.add_weighted_edges_from(edges)
    parts = nx.community.louvain_communities(
        graph, weight='weight', resolution=1. / markov_time, seed=seed)
    return {n: i for i, part in enumerate(parts) for n in part}


def detect_communities(num_nodes: int,
                       edges: Sequence[Tuple[int, int, float]],
                       method: str = 'infomap',
                       markov_time: float = 1.,
                       seed: int = 1,
                       num_modules: Optional[int] = None) -> np.ndarray:
    """Communities of a weighted undirected graph.

    Args:
        num_nodes (int): nodes ``0 .. num_nodes - 1``; a node without an
            edge is a community of its own.
        edges (Sequence[tuple]): ``(i, j, weight)``.
        method (str): ``'infomap'`` (two-level, undirected; the paper's)
            or ``'louvain'`` (networkx; resolution ``1 / markov_time``).
        markov_time (float): Infomap's Markov time (larger: fewer,
            bigger communities). Defaults to 1.
        seed (int): Infomap rejects 0. Defaults to 1.
        num_modules (int, optional): Infomap's preferred number of modules.

    Returns:
        np.ndarray: ``(num_nodes,)`` int64 community ids, contiguous from 0
        in order of first appearance.
    """
    if method not in ('infomap', 'louvain'):
        raise ValueError(f"method must be 'infomap' or 'louvain', got "
                         f'{method!r}')
    if seed < 1:
        raise ValueError(f'seed must be >= 1 (Infomap rejects 0), got {seed}')
    if markov_time <= 0:
        raise ValueError(f'markov_time must be > 0, got {markov_time}')
    found: Dict[int, int] = {}
    if edges:
        found = _infomap(num_nodes, edges, markov_time, seed, num_modules) \
            if method == 'infomap' else \
            _louvain(num_nodes, edges, markov_time, seed)
    raw = np.array([found.get(n, -1 - n) for n in range(num_nodes)])
    _, first = np.unique(raw, return_index=True)
    order = {raw[i]: c for c, i in enumerate(sorted(first))}
    return np.array([order[r] for r in raw], np.int64)


def merge_clusters(clusters: Sequence[np.ndarray],
                   communities: np.ndarray,
                   offset: int = 0) -> List[np.ndarray]:
    """Paint every cluster with its community (``+ offset``); negative
    cluster ids stay as they are."""
    lut = np.asarray(communities, np.int64) + offset
    out = []
    for cmap in clusters:
        cmap = np.asarray(cmap)
        merged = lut[np.clip(cmap, 0, None)]
        out.append(np.where(cmap < 0, cmap, merged))
    return out
