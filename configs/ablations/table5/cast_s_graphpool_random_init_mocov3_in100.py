# CAST Table 5 (paper: Table 5b random sampling 71.2, GraphPool + FPS 79.9): CAST-S with GraphPool, random centroids
# ending every stage, MoCo v3 on ImageNet-100; probe it with
# cast_s_graphpool_random_init_linear_in100.py.
_base_ = ['../../cast_s_mocov3_in100.py']
model = dict(backbone=dict(pooling=dict(type='GraphPool', centroid_init='random')))
