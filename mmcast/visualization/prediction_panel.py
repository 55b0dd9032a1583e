# Copyright (c) mmcast contributors. All rights reserved.
"""Predictions as pictures: a semantic segmentation beside its image (and
ground truth) with a legend naming the colour of every class that appears;
a classification as the image above its best classes and scores."""
from typing import Optional, Sequence

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text_size(text: str, scale: float, thickness: int):
    (w, h), base = cv2.getTextSize(text, FONT, scale, thickness)
    return w, h + base


def class_legend(classes: Sequence[str],
                 palette: np.ndarray,
                 ids: Sequence[int],
                 width: int,
                 scale: float = 0.5) -> np.ndarray:
    """A legend strip: a colour swatch and the name of each class in
    ``ids``, wrapped into rows that fit ``width``.

    Args:
        classes (Sequence[str]): all class names.
        palette (np.ndarray): ``(num_classes, 3)`` uint8 RGB.
        ids (Sequence[int]): the classes to list, in this order.
        width (int): width of the strip in pixels.
        scale (float): font scale.

    Returns:
        np.ndarray: ``(h, width, 3)`` uint8 RGB, white background.
    """
    thickness = 1
    line_h = max(_text_size('Ag', scale, thickness)[1], 12) + 8
    swatch = line_h - 8
    entries = []
    for i in ids:
        name = classes[i] if i < len(classes) else f'class {i}'
        entries.append((int(i), name, swatch + 6 +
                        _text_size(name, scale, thickness)[0] + 16))
    rows, row, used = [], [], 8
    for entry in entries:
        if row and used + entry[2] > width:
            rows.append(row)
            row, used = [], 8
        row.append(entry)
        used += entry[2]
    if row:
        rows.append(row)
    strip = np.full((max(1, len(rows)) * line_h + 4, width, 3), 255,
                    np.uint8)
    for r, row in enumerate(rows):
        x, y = 8, 4 + r * line_h
        for i, name, w in row:
            colour = tuple(int(c) for c in palette[i % len(palette)])
            cv2.rectangle(strip, (x, y + 2), (x + swatch, y + 2 + swatch),
                          colour, -1)
            cv2.rectangle(strip, (x, y + 2), (x + swatch, y + 2 + swatch),
                          (0, 0, 0), 1)
            cv2.putText(strip, name, (x + swatch + 6, y + swatch), FONT,
                        scale, (0, 0, 0), thickness, cv2.LINE_AA)
            x += w
    return strip


def segmentation_panel(image: np.ndarray,
                       pred: np.ndarray,
                       classes: Sequence[str],
                       palette,
                       gt: Optional[np.ndarray] = None,
                       ignore_index: int = 255,
                       min_height: int = 256,
                       gap: int = 4) -> np.ndarray:
    """Image | prediction (| ground truth) with titles and a class legend.

    Small images are enlarged (nearest neighbour for the label maps) to at
    least ``min_height`` pixels.  The legend lists every class present in
    the prediction or the ground truth; ignored ground-truth pixels
    (``ignore_index`` or negative) are black.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        pred (np.ndarray): ``(H, W)`` class indices.
        classes (Sequence[str]): class names.
        palette: ``(num_classes, 3)`` RGB colours.
        gt (np.ndarray, optional): ``(H, W)`` class indices.
        ignore_index (int): ground-truth label drawn black, not listed.
        min_height (int): smallest tile height.
        gap (int): pixels between tiles.

    Returns:
        np.ndarray: the panel, uint8 RGB.
    """
    palette = np.asarray(palette, np.uint8)
    H, W = pred.shape
    if image.shape[:2] != (H, W) or (gt is not None and gt.shape != (H, W)):
        raise ValueError(f'image {image.shape[:2]}, prediction {(H, W)} and '
                         'ground truth must have one size')
    if pred.size and (pred.min() < 0 or pred.max() >= len(palette)):
        raise ValueError(f'prediction labels span [{pred.min()}, '
                         f'{pred.max()}] but the palette has '
                         f'{len(palette)} colours')
    maps = [('prediction', pred)]
    if gt is not None:
        maps.append(('ground truth', gt))
    factor = max(1, int(np.ceil(min_height / H)))
    th, tw = H * factor, W * factor
    tiles = [('image', cv2.resize(np.ascontiguousarray(image[..., :3]),
                                  (tw, th), interpolation=cv2.INTER_NEAREST))]
    present = set()
    for title, labels in maps:
        valid = (labels >= 0) & (labels != ignore_index) & \
            (labels < len(palette))
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[valid] = palette[labels[valid]]
        present.update(np.unique(labels[valid]).tolist())
        tiles.append((title, cv2.resize(rgb, (tw, th),
                                        interpolation=cv2.INTER_NEAREST)))
    width = len(tiles) * (tw + gap) - gap
    header = _text_size('Ag', 0.6, 1)[1] + 10
    panel = np.full((header + th, width, 3), 255, np.uint8)
    for k, (title, tile) in enumerate(tiles):
        x = k * (tw + gap)
        panel[header:, x:x + tw] = tile
        tw_text = _text_size(title, 0.6, 1)[0]
        cv2.putText(panel, title, (x + max(0, (tw - tw_text) // 2),
                                   header - 8), FONT, 0.6, (0, 0, 0), 1,
                    cv2.LINE_AA)
    legend = class_legend(classes, palette, sorted(present), width)
    return np.concatenate([panel, legend], axis=0)


def classification_panel(image: np.ndarray,
                         scores: np.ndarray,
                         classes: Optional[Sequence[str]] = None,
                         topk: int = 5,
                         min_width: int = 256) -> np.ndarray:
    """The image above its ``topk`` classes, each with its score.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        scores (np.ndarray): ``(num_classes,)`` class scores.
        classes (Sequence[str], optional): class names (``class i``
            without).
        topk (int): lines to list.
        min_width (int): small images are enlarged to this width.

    Returns:
        np.ndarray: the panel, uint8 RGB.
    """
    H, W = image.shape[:2]
    factor = max(1, int(np.ceil(min_width / W)))
    tile = cv2.resize(np.ascontiguousarray(image[..., :3]),
                      (W * factor, H * factor),
                      interpolation=cv2.INTER_NEAREST)
    order = np.argsort(-np.asarray(scores), kind='stable')[:topk]
    line_h = _text_size('Ag', 0.5, 1)[1] + 6
    strip = np.full((len(order) * line_h + 8, tile.shape[1], 3), 255,
                    np.uint8)
    for rank, i in enumerate(order):
        name = classes[i] if classes is not None and i < len(classes) \
            else f'class {i}'
        cv2.putText(strip, f'{rank + 1}. {name}: {float(scores[i]):.3f}',
                    (8, 4 + (rank + 1) * line_h - 6), FONT, 0.5, (0, 0, 0),
                    1, cv2.LINE_AA)
    return np.concatenate([tile, strip], axis=0)
