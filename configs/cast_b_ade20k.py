# CAST-B + mask transformer on ADE20K (release recipe, see cast_s_ade20k.py).
_base_ = ['./cast_s_ade20k.py']
model = dict(
    backbone=dict(arch='base'),
    decode_head=dict(in_channels=768, num_heads=12))
