# Drop-in use: mmseg's stock UPerNet on CAST-S's dense feature maps (each
# stage's tokens unpooled to the superpixels and painted on the stride-8
# grid).  Only the backbone, the preprocessor and the pipelines (which add
# superpixels) change.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

crop_size = (512, 512)
superpixels = dict(type='Superpixels', stride=16, preset='segmentation')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    superpixels,
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    superpixels,
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True)
         for r in img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations', reduce_zero_label=True)],
        [superpixels],
        [dict(type='PackSegInputs')],
    ]),
]
tta_model = dict(type='SegTTAModel')
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    data_preprocessor=dict(
        _delete_=True,
        type='CASTSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='CAST',
        arch='small',
        img_size=224,
        num_clusters=[320, 160, 80, 40],
        pos_embed='learned',
        token_pooling='full',
        drop_path_rate=0.1,
        out_type='featmap',
        init_cfg=None),
    decode_head=dict(in_channels=[384, 384, 384, 384], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# The final class-token norm and the last GraphPool's refinement feed
# nothing differentiable in segmentation (the coarsest level is an argmax):
# let DDP skip their missing gradients.
find_unused_parameters = True
