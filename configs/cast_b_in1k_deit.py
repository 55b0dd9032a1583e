# CAST-B supervised on ImageNet-1K: the CAST-S DeiT recipe with the base
# width (768 channels, 12 heads, depths 3/3/3/2).
_base_ = ['./cast_s_in1k_deit.py']

model = dict(
    backbone=dict(
        arch=dict(embed_dims=768, depths=[3, 3, 3, 2], num_heads=12)),
    head=dict(in_channels=768))
