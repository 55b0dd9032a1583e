# CAST-B + mask transformer on Pascal-Context (see cast_s_pascal_context.py).
_base_ = ['./cast_s_pascal_context.py']
model = dict(
    backbone=dict(arch='base'),
    decode_head=dict(in_channels=768, num_heads=12))
