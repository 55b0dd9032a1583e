# CAST Table 3a, row "+ superpixel" (no pooling), after tuning: the fused
# tokens of the four stages at the 1024 superpixels.
_base_ = ['./cast_s_voc_transfer.py']
model = dict(backbone=dict(pooling=None))
