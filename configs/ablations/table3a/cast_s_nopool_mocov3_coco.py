# CAST Table 3a, row "+ superpixel" (superpixel tokens, no pooling: 196
# tokens through all 3 + 3 + 3 + 2 blocks), MoCo v3 on COCO.
_base_ = ['./cast_s_mocov3_coco.py']
model = dict(backbone=dict(pooling=None))
