# CAST Table 3a, row "CAST-S" (superpixels + GraphPool), self-supervised on
# COCO: the release recipe of configs/cast_s_mocov3_coco.py as it is.  The
# other rows swap the backbone only.
_base_ = ['../../cast_s_mocov3_coco.py']
