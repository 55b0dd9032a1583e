# CAST Table 5: linear probe on ImageNet-100 of
# cast_s_random_sampling_mocov3_in100.py (RandomSamplingPool):
#   --cfg-options model.backbone.init_cfg.checkpoint=CHECKPOINT
_base_ = ['../../cast_s_linear_in100.py']
model = dict(backbone=dict(pooling=dict(type='RandomSamplingPool')))
