# Copyright (c) mmcast contributors. All rights reserved.
"""HierarchyVisualizer: the nested colour scheme, contours, the panel."""
import cv2
import numpy as np
import pytest
import skimage.data
import torch

from mmcast.apis import inference_hierarchy
from mmcast.visualization import HierarchyVisualizer, label_boundaries
from tests.hierarchy_helpers import SEG_CFG, quiet_init_model


def hsv_of(rgb):
    """Hue in degrees, saturation and value in [0, 1] of uint8 RGB."""
    hsv = cv2.cvtColor(rgb.astype(np.float32) / 255., cv2.COLOR_RGB2HSV)
    return hsv[..., 0], hsv[..., 1], hsv[..., 2]


def hue_distance(a, b):
    d = abs(a - b) % 360
    return min(d, 360 - d)


def synthetic_hierarchy():
    """Three vertical bands, split into 2, 3 and 1 parts, then superpixels.

    Returns levels finest first (superpixels, parts, bands).
    """
    H, W = 30, 60
    bands = np.repeat(np.array([7, 2, 5]), 20)[None].repeat(H, 0)
    parts = np.zeros((H, W), np.int64)
    parts[:, :20] = np.where(np.arange(H)[:, None] < 15, 0, 1)  # band 7
    parts[:, 20:40] = 2 + np.arange(20)[None] // 7  # band 2: 3 parts
    parts[:, 40:] = 9  # band 5: one part
    ys, xs = np.mgrid[:H, :W]
    superpixels = (ys // 5) * 100 + xs // 5  # 5x5 cells inside the parts
    return [superpixels, parts, bands]


def test_same_hue_within_coarse_segments_distinct_across():
    levels = synthetic_hierarchy()
    vis = HierarchyVisualizer(name='t_hues')
    colours = vis.colorize(levels)
    coarse = levels[-1]
    band_hue = {}
    for rgb in colours:
        hue, _, _ = hsv_of(rgb)
        for c in np.unique(coarse):
            h = hue[coarse == c]
            assert np.ptp(h) < 1.0, 'hue varies inside a coarse segment'
            band_hue.setdefault(c, h[0])
            assert hue_distance(h[0], band_hue[c]) < 1.0, \
                'a coarse segment changes hue across levels'
    hues = list(band_hue.values())
    for i in range(3):
        for j in range(i + 1, 3):
            # Three segments: 120 degrees apart.
            assert hue_distance(hues[i], hues[j]) > 100


def test_saturation_value_vary_within_a_coarse_segment():
    levels = synthetic_hierarchy()
    vis = HierarchyVisualizer(name='t_sv', saturation=(0.3, 1.0),
                              value=(0.5, 1.0))
    parts_rgb = vis.colorize(levels)[1]
    _, sat, val = hsv_of(parts_rgb)
    parts, bands = levels[1], levels[2]
    for band in np.unique(bands):
        inside = np.unique(parts[bands == band])
        sv = {(round(float(sat[parts == p][0]), 2),
               round(float(val[parts == p][0]), 2)) for p in inside}
        # One colour per part, all different.
        assert len(sv) == len(inside), (band, sv)
        for p in inside:
            assert np.ptp(sat[parts == p]) < 1e-2
    # The coarsest level is drawn in the vivid colours (max s and v).
    _, sat, val = hsv_of(vis.colorize(levels)[-1])
    np.testing.assert_allclose(sat, 1.0, atol=1e-2)
    np.testing.assert_allclose(val, 1.0, atol=1e-2)


def test_colour_scheme_on_a_real_hierarchy():
    torch.manual_seed(0)
    model = quiet_init_model(SEG_CFG)
    result = inference_hierarchy(model, skimage.data.astronaut(),
                                 channel_order='rgb',
                                 num_clusters=[16, 8, 5, 3])
    coarse = result.levels[-1]
    vis = HierarchyVisualizer(name='t_real')
    colours = vis.colorize(result)
    for rgb, level in zip(colours, result.levels):
        hue, sat, val = hsv_of(rgb)
        for c in np.unique(coarse):
            assert np.ptp(hue[coarse == c]) < 1.0
            # Segments of this level inside c: one colour each.
            segs = np.unique(level[coarse == c])
            sv = {(round(float(sat[level == s][0]), 3),
                   round(float(val[level == s][0]), 3)) for s in segs}
            assert len(sv) == len(segs)


def test_label_boundaries_match_a_direct_definition():
    rng = np.random.default_rng(0)
    labels = np.kron(rng.integers(0, 5, (6, 7)), np.ones((4, 3), int))
    edge = label_boundaries(labels)
    # A pixel is on a boundary when its 2x2 window reaching up-left (edge
    # replicated) holds two labels.
    pad = np.pad(labels, ((1, 0), (1, 0)), mode='edge')
    window = np.stack([pad[1:, 1:], pad[:-1, 1:], pad[1:, :-1],
                       pad[:-1, :-1]])
    np.testing.assert_array_equal(edge, window.min(0) != window.max(0))
    assert edge.any() and not edge.all()


def test_panel_layout_contours_and_levels(tmp_path):
    levels = synthetic_hierarchy()
    image = np.full((30, 60, 3), 128, np.uint8)
    vis = HierarchyVisualizer(name='t_panel', tile_height=(30, 30), gap=2,
                              contour_alpha=1.0,
                              contour_color=(0, 0, 0))
    panel = vis.draw_panel(image, levels, with_contours=False,
                           with_titles=False)
    assert panel.shape == (30, 4 * 60 + 3 * 2, 3)
    np.testing.assert_array_equal(panel[:, :60], image)
    colours = vis.colorize(levels)
    for i, rgb in enumerate(colours, 1):
        np.testing.assert_array_equal(panel[:, i * 62:i * 62 + 60], rgb)
    # Contours: black exactly on the superpixel boundaries.
    panel = vis.draw_panel(image, levels, levels=[-1], with_titles=False)
    assert panel.shape == (30, 2 * 60 + 2, 3)
    tile = panel[:, 62:]
    edge = label_boundaries(levels[0])
    assert (tile[edge] == 0).all()
    np.testing.assert_array_equal(tile[~edge], colours[-1][~edge])
    with pytest.raises(ValueError, match='out of range'):
        vis.draw_panel(image, levels, levels=[3])
    # With titles, through mmengine's drawing, written to a file.
    out = tmp_path / 'panel.png'
    drawn = vis.add_datasample('h', image, dict(levels=levels),
                               out_file=str(out))
    assert drawn.shape[0] > 30 and cv2.imread(str(out)).shape == drawn.shape


def test_small_images_are_enlarged_in_the_panel():
    levels = [np.arange(4).reshape(2, 2), np.zeros((2, 2), int)]
    vis = HierarchyVisualizer(name='t_small', tile_height=(64, 512))
    panel = vis.draw_panel(np.zeros((2, 2, 3), np.uint8), levels,
                           with_titles=False)
    assert panel.shape[0] == 64


@pytest.mark.parametrize('scope', ['mmengine', 'mmseg', 'mmpretrain'])
def test_registered_in_every_visualizer_registry(scope):
    if scope == 'mmengine':
        from mmengine.registry import VISUALIZERS
    elif scope == 'mmseg':
        from mmseg.registry import VISUALIZERS
    else:
        from mmpretrain.registry import VISUALIZERS
    vis = VISUALIZERS.build(dict(type='HierarchyVisualizer',
                                 name=f'reg_{scope}'))
    assert isinstance(vis, HierarchyVisualizer)
