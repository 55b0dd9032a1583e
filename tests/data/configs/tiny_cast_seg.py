# A tiny CAST segmentor (mmseg) for fast tests of the inference API and the
# hierarchy demo; random weights unless a checkpoint is given.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='CASTSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='CAST',
        arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=2),
        img_size=128,
        num_clusters=[32, 16, 8, 4],
        pool_num_heads=2,
        token_pooling='full',
        out_type='featmap'),
    decode_head=dict(
        type='FCNHead',
        in_channels=32,
        in_index=-1,
        channels=8,
        num_convs=1,
        num_classes=4),
    test_cfg=dict(mode='whole'))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='Superpixels'),
    dict(type='PackSegInputs'),
]
