# A tiny CAST classifier (mmpretrain) for fast tests of the inference API
# and the hierarchy demo; random weights unless a checkpoint is given.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='CASTClsDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='CAST',
        arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2),
        img_size=96,
        num_clusters=[16, 8, 4, 2],
        pool_num_heads=2,
        out_type='cls_token'),
    head=dict(type='LinearClsHead', num_classes=5, in_channels=32))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=96, edge='short'),
    dict(type='CenterCrop', crop_size=96),
    dict(type='Superpixels', preset='classification'),
    dict(type='PackInputs'),
]
