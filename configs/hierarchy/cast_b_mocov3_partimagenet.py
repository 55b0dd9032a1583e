# Paper Table 1: CAST-B (MoCo v3 on ImageNet-1K) on PartImageNet test.
_base_ = [
    '../_base_/models/cast_hierarchy.py',
    '../_base_/datasets/partimagenet_hierarchy.py'
]
model = dict(backbone=dict(arch='base'))
