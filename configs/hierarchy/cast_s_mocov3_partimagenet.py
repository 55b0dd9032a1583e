# CAST-S (MoCo v3) on PartImageNet test, objects at 8 and parts at 16
# segments.
_base_ = [
    '../_base_/models/cast_hierarchy.py',
    '../_base_/datasets/partimagenet_hierarchy.py'
]
