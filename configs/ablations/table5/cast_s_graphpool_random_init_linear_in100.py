# CAST Table 5b: linear probe on ImageNet-100 of
# cast_s_graphpool_random_init_mocov3_in100.py (GraphPool, random
# centroids):
#   --cfg-options model.backbone.init_cfg.checkpoint=CHECKPOINT
_base_ = ['../../cast_s_linear_in100.py']
model = dict(
    backbone=dict(pooling=dict(type='GraphPool', centroid_init='random')))
