# CAST Table 5b: CAST-S whose GraphPools seed their clusters with tokens
# drawn at random instead of farthest point sampling, MoCo v3 on
# ImageNet-100 (paper: random sampling 71.2, FPS 79.9).  Probe it with
# cast_s_graphpool_random_init_linear_in100.py.
_base_ = ['../../cast_s_mocov3_in100.py']
model = dict(
    backbone=dict(pooling=dict(type='GraphPool', centroid_init='random')))
