# Copyright (c) mmcast contributors. All rights reserved.
"""Draw CAST's part-whole hierarchy so that nesting is visible.

Colour scheme (after the paper's figures): the coarsest level decides the
hue of every pixel, one hue per coarsest segment, spread evenly around the
colour wheel.  Within a coarse segment, the segments of a finer level keep
that hue and differ in saturation and value.  A part therefore always has
the hue of the whole it belongs to, in every panel.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.visualization import Visualizer

from mmcast.registry import register_visualizer

LevelMaps = Sequence[np.ndarray]


def label_boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels where the label changes (1 pixel wide, right/bottom side).

    Args:
        labels (np.ndarray): ``(H, W)`` integer labels (below 2**24, exact
            in float32).

    Returns:
        np.ndarray: ``(H, W)`` bool.
    """
    lab = labels.astype(np.float32)
    # Morphological gradient with a 2x2 kernel: max - min over each pixel
    # and its upper-left neighbours is non-zero exactly at label changes.
    grad = cv2.morphologyEx(lab, cv2.MORPH_GRADIENT,
                            np.ones((2, 2), np.uint8),
                            borderType=cv2.BORDER_REPLICATE)
    return grad > 0


def coarse_hues(coarsest: np.ndarray) -> dict:
    """Hue (degrees) of every segment of the coarsest level.

    The ``n`` segments, in increasing id order, get ``360 * i / n``, so a
    few segments are far apart on the colour wheel.

    Args:
        coarsest (np.ndarray): ``(H, W)`` labels of the coarsest level
            (negative = none).

    Returns:
        dict[int, float]: segment id -> hue in ``[0, 360)``.
    """
    ids = np.unique(coarsest[coarsest >= 0])
    return {int(c): 360. * i / len(ids) for i, c in enumerate(ids)}


def colorize_level(level: np.ndarray,
                   coarsest: np.ndarray,
                   saturation: Tuple[float, float] = (0.3, 1.0),
                   value: Tuple[float, float] = (0.5, 1.0),
                   hues: Optional[dict] = None) -> np.ndarray:
    """Colour one level with the hierarchy colour scheme.

    Every pixel takes the hue of its coarsest segment.  The ``n`` segments
    of ``level`` inside one coarsest segment, in increasing id order, get
    ``t = k / (n - 1)`` (0 when alone) and saturation ``s_max - t (s_max -
    s_min)``, value ``v_max - t (v_max - v_min)``: the first is the vivid
    colour of the whole, the others paler and darker.  The coarsest level
    itself is thus drawn in the vivid colours.

    Args:
        level (np.ndarray): ``(H, W)`` integer labels of the level to draw.
        coarsest (np.ndarray): ``(H, W)`` labels of the coarsest level;
            ``level`` must be nested in it.  Negative labels are drawn
            black.
        saturation (tuple[float, float]): ``(s_min, s_max)`` in ``[0, 1]``.
        value (tuple[float, float]): ``(v_min, v_max)`` in ``[0, 1]``.
        hues (dict, optional): from :func:`coarse_hues`; computed from
            ``coarsest`` when not given.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    if level.shape != coarsest.shape:
        raise ValueError(f'level {level.shape} and coarsest level '
                         f'{coarsest.shape} differ in shape')
    hues = coarse_hues(coarsest) if hues is None else hues
    lab = level.astype(np.int64).ravel()
    top = coarsest.astype(np.int64).ravel()
    valid = (lab >= 0) & (top >= 0)
    out = np.zeros((lab.size, 3), np.uint8)
    if not valid.any():
        return out.reshape(*level.shape, 3)
    span = int(lab[valid].max()) + 1
    pairs, inverse = np.unique(top[valid] * span + lab[valid],
                               return_inverse=True)
    owner = pairs // span
    # Rank of each segment among the segments of its coarsest segment.
    first = np.r_[True, owner[1:] != owner[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0))
    rank = np.arange(len(owner)) - start
    size = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    t = np.where(size > 1, rank / np.maximum(size - 1, 1), 0.)
    hsv = np.stack([
        np.array([hues[int(o)] for o in owner], np.float64),
        saturation[1] - t * (saturation[1] - saturation[0]),
        value[1] - t * (value[1] - value[0]),
    ], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]
    out[valid] = np.clip(np.round(rgb * 255), 0, 255).astype(
        np.uint8)[inverse.ravel()]
    return out.reshape(*level.shape, 3)


def _resize_labels(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest resize of a label map to ``(h, w)``."""
    h, w = size
    H, W = labels.shape
    if (H, W) == (h, w):
        return labels
    rows = np.minimum(np.arange(h) * H // h, H - 1)
    cols = np.minimum(np.arange(w) * W // w, W - 1)
    return labels[rows][:, cols]


@register_visualizer
class HierarchyVisualizer(Visualizer):
    """Visualizer of CAST's hierarchy (registered in mmengine, mmseg and
    mmpretrain).

    Draws every level with the colour scheme of :func:`colorize_level`,
    optionally with the superpixel contours on top, and puts the image and
    the levels side by side in one panel with a title over each tile.

    Args:
        name (str): instance name. Defaults to ``'hierarchy_visualizer'``.
        image (np.ndarray, optional): RGB image to draw on.
        vis_backends (list[dict], optional): mmengine visualization
            backends (``add_datasample`` records the panel there).
        save_dir (str, optional): where the backends write.
        saturation (tuple[float, float]): ``(min, max)`` saturation of the
            segments within a coarse segment.
        value (tuple[float, float]): ``(min, max)`` value (brightness).
        contour_color (tuple[int, int, int]): RGB of superpixel contours.
        contour_alpha (float): opacity of the contours in ``[0, 1]``.
        tile_height (tuple[int, int]): ``(min, max)`` height of a panel tile;
            small images are enlarged (nearest) and large ones reduced.
        gap (int): pixels between tiles.
        fig_save_cfg, fig_show_cfg (dict): as mmengine's ``Visualizer``.
    """

    def __init__(self,
                 name: str = 'hierarchy_visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 saturation: Tuple[float, float] = (0.3, 1.0),
                 value: Tuple[float, float] = (0.5, 1.0),
                 contour_color: Tuple[int, int, int] = (255, 255, 255),
                 contour_alpha: float = 0.6,
                 tile_height: Tuple[int, int] = (192, 512),
                 gap: int = 4,
                 fig_save_cfg=dict(frameon=False),
                 fig_show_cfg=dict(frameon=False)):
        super().__init__(name=name, image=image, vis_backends=vis_backends,
                         save_dir=save_dir, fig_save_cfg=fig_save_cfg,
                         fig_show_cfg=fig_show_cfg)
        for lo, hi in (saturation, value):
            if not 0 <= lo <= hi <= 1:
                raise ValueError('saturation and value ranges must be '
                                 f'(min, max) in [0, 1], got {(lo, hi)}')
        self.saturation = tuple(saturation)
        self.value = tuple(value)
        self.contour_color = np.array(contour_color, np.float32)
        self.contour_alpha = float(contour_alpha)
        self.tile_height = tuple(tile_height)
        self.gap = int(gap)

    # ------------------------------------------------------------------
    @staticmethod
    def _as_levels(hierarchy) -> List[np.ndarray]:
        levels = getattr(hierarchy, 'levels', None)
        if levels is None and isinstance(hierarchy, dict):
            levels = hierarchy.get('levels')
        if levels is None:
            levels = hierarchy
        levels = [np.asarray(lv) for lv in levels]
        if not levels or any(lv.shape != levels[0].shape for lv in levels):
            raise ValueError('expected label maps of one shape per level')
        return levels

    def colorize(self, levels: LevelMaps) -> List[np.ndarray]:
        """Every level drawn with the hierarchy colour scheme.

        Args:
            levels (Sequence[np.ndarray]): ``(H, W)`` label maps, finest
                first, the last one the coarsest.

        Returns:
            list[np.ndarray]: one ``(H, W, 3)`` uint8 RGB image per level.
        """
        levels = self._as_levels(levels)
        hues = coarse_hues(levels[-1])
        return [
            colorize_level(lv, levels[-1], self.saturation, self.value, hues)
            for lv in levels
        ]

    def overlay_contours(self, canvas: np.ndarray,
                         superpixels: np.ndarray) -> np.ndarray:
        """Blend superpixel contours onto an RGB image.

        Args:
            canvas (np.ndarray): ``(H, W, 3)`` uint8 RGB.
            superpixels (np.ndarray): ``(H, W)`` labels.

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB.
        """
        edge = label_boundaries(superpixels)
        out = canvas.astype(np.float32)
        out[edge] = (1 - self.contour_alpha) * out[edge] + \
            self.contour_alpha * self.contour_color
        return np.clip(np.round(out), 0, 255).astype(np.uint8)

    def _tile_size(self, H: int, W: int) -> Tuple[int, int]:
        lo, hi = self.tile_height
        h = int(min(max(H, lo), hi))
        return h, max(1, int(round(W * h / H)))

    def draw_panel(self,
                   image: np.ndarray,
                   hierarchy,
                   levels: Optional[Sequence[int]] = None,
                   with_contours: bool = True,
                   titles: Optional[Sequence[str]] = None,
                   with_titles: bool = True) -> np.ndarray:
        """The image and the chosen levels side by side.

        Args:
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
            hierarchy: a :class:`~mmcast.apis.HierarchyResult`, a dict with
                ``levels`` or a sequence of ``(H, W)`` label maps (level 0 =
                superpixels, last = coarsest).
            levels (Sequence[int], optional): which levels to draw (negative
                counts from the coarsest); all by default.  The colours
                always come from the coarsest level.
            with_contours (bool): superpixel (level 0) contours on the
                levels.
            titles (Sequence[str], optional): one per tile (image first).
            with_titles (bool): draw the titles (with mmengine's text
                drawing) above the tiles.

        Returns:
            np.ndarray: the panel, uint8 RGB; also set as the visualizer's
            image.
        """
        maps = self._as_levels(hierarchy)
        if image.shape[:2] != maps[0].shape:
            raise ValueError(f'image {image.shape[:2]} and label maps '
                             f'{maps[0].shape} differ in size')
        chosen = list(range(len(maps))) if levels is None else [
            lv % len(maps) if -len(maps) <= lv < len(maps) else None
            for lv in levels
        ]
        if None in chosen or not chosen:
            raise ValueError(f'levels {levels} out of range for '
                             f'{len(maps)} levels (0..{len(maps) - 1})')
        th, tw = self._tile_size(*image.shape[:2])
        small = [_resize_labels(m, (th, tw)) for m in maps]
        colours = self.colorize(small)
        interp = cv2.INTER_AREA if th < image.shape[0] else cv2.INTER_NEAREST
        tiles = [cv2.resize(np.ascontiguousarray(image[..., :3]), (tw, th),
                            interpolation=interp)]
        for lv in chosen:
            tile = colours[lv]
            if with_contours:
                tile = self.overlay_contours(tile, small[0])
            tiles.append(tile)
        if titles is None:
            titles = ['image'] + [
                f'level {lv} ({len(np.unique(maps[lv][maps[lv] >= 0]))} '
                f"{'superpixels' if lv == 0 else 'segments'})"
                for lv in chosen
            ]
        header = max(18, th // 12) if with_titles else 0
        panel = np.full((header + th, len(tiles) * (tw + self.gap) -
                         self.gap, 3), 255, np.uint8)
        for i, tile in enumerate(tiles):
            x = i * (tw + self.gap)
            panel[header:, x:x + tw] = tile
        self.set_image(panel)
        if with_titles:
            self.draw_texts(
                list(titles),
                np.array([[i * (tw + self.gap) + tw / 2, header / 2]
                          for i in range(len(tiles))]),
                font_sizes=max(6, int(header * 0.45)),
                colors='black',
                vertical_alignments='center',
                horizontal_alignments='center')
            panel = self.get_image()
        return panel

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = False,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       levels: Optional[Sequence[int]] = None,
                       with_contours: bool = True) -> np.ndarray:
        """Draw the panel of a hierarchy; show it, write it or record it.

        Args:
            name (str): identifier for the backends.
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
            data_sample: the hierarchy (see :meth:`draw_panel`).
            draw_gt (bool): unused (no ground truth here).
            draw_pred (bool): unused (the hierarchy is always drawn).
            show (bool): show the panel in a window.
            wait_time (float): seconds to show it.
            out_file (str, optional): write the panel there (else it goes to
                the visualization backends).
            step (int): global step for the backends.
            levels, with_contours: see :meth:`draw_panel`.

        Returns:
            np.ndarray: the panel, uint8 RGB.
        """
        import mmcv
        if data_sample is None:
            raise ValueError('add_datasample needs the hierarchy as '
                             'data_sample')
        panel = self.draw_panel(image, data_sample, levels, with_contours)
        if show:
            self.show(panel, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(panel[..., ::-1], out_file)
        else:
            self.add_image(name, panel, step)
        return panel
