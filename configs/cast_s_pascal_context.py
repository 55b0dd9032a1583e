# CAST-S + mask transformer on Pascal-Context (59 classes), the release's
# recipe: image 520, crop 480, sliding window 480 / stride 320, batch 16
# (8 GPUs x 2), 80k iterations, SGD lr 1e-3 poly to 1e-5; 900 superpixels
# per 480x480 crop.
_base_ = [
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

img_scale = (520, 520)
crop_size = (480, 480)
superpixels = dict(type='Superpixels', stride=16, preset='segmentation')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    superpixels,
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
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
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='CASTSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=crop_size),
    backbone=dict(
        type='CAST',
        arch='small',
        img_size=224,
        num_clusters=[320, 160, 80, 40],
        pos_embed='learned',
        token_pooling='full',
        with_fusion=True,
        drop_path_rate=0.1,
        out_type='raw',
        init_cfg=None),
    decode_head=dict(
        type='HypercolumnUnpoolHead',
        in_channels=384,
        num_classes=59,
        decoder='mask_transformer',
        num_layers=2,
        num_heads=6,
        drop_rate=0.1,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(320, 320)))
tta_model = dict(type='SegTTAModel')

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=80000,
         by_epoch=False)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# The final class-token norm and the last GraphPool's refinement feed
# nothing differentiable in segmentation (the coarsest level is an argmax):
# let DDP skip their missing gradients.
find_unused_parameters = True
