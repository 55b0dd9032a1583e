# Copyright (c) mmcast contributors. All rights reserved.
"""Run an upstream tool script, unchanged, with a known bug of the upstream
*library* it imports worked around in this process only::

    python tests/upstream_fixes.py TOOL.py [ARGS...]

open-mmlab/mmsegmentation#3405 (fix proposed in #3566, not merged; present
in mmseg 1.2.2): ``SegLocalVisualizer._draw_sem_seg`` draws its label boxes
with OpenCV into ``np.zeros_like(image)``, which keeps the image's memory
layout; the browse tools pass a transposed (non-contiguous) view, and
OpenCV >= 4.8 refuses to draw into it, whatever the dataset or model.  The
work-around hands the visualizer a contiguous copy of the image.
"""
import runpy
import sys

import numpy as np


def contiguous_image_for_sem_seg_drawing():
    from mmseg.visualization import SegLocalVisualizer
    draw = SegLocalVisualizer._draw_sem_seg

    def _draw_sem_seg(self, image, *args, **kwargs):
        return draw(self, np.ascontiguousarray(image), *args, **kwargs)

    SegLocalVisualizer._draw_sem_seg = _draw_sem_seg


if __name__ == '__main__':
    contiguous_image_for_sem_seg_drawing()
    tool = sys.argv.pop(1)
    sys.argv[0] = tool
    runpy.run_path(tool, run_name='__main__')
