# CAST Table 5: linear probe on ImageNet-100 of
# cast_s_kmeans_mocov3_in100.py (KMeansPool):
#   --cfg-options model.backbone.init_cfg.checkpoint=CHECKPOINT
_base_ = ['../../cast_s_linear_in100.py']
model = dict(backbone=dict(pooling=dict(type='KMeansPool')))
