# CAST Table 5: CAST-S with RandomSamplingPool ending every
# stage, MoCo v3 on ImageNet-100 (paper: Random Sampling 55.8;
# GraphPool + FPS 79.9).  Probe it with cast_s_random_sampling_linear_in100.py.
_base_ = ['../../cast_s_mocov3_in100.py']
model = dict(backbone=dict(pooling=dict(type='RandomSamplingPool')))
