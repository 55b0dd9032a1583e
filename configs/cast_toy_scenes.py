# The embedded default: a small CAST trained on procedural scenes on a CPU
# in a few minutes (tools/quickstart.py generates the data and runs it).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

dataset_type = 'ToyScenesDataset'
data_root = 'data/toy_scenes'
crop_size = (112, 112)
# 8 px superpixels: about 200 per crop, enough for the small objects.
superpixels = dict(type='Superpixels', stride=8)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.8, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    superpixels,
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    superpixels,
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True)
         for r in (0.75, 1.0)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations', reduce_zero_label=True)],
        [superpixels],
        [dict(type='PackSegInputs')],
    ]),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='CASTSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        size=crop_size,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='CAST',
        arch=dict(embed_dims=64, depths=[1, 1, 1, 1], num_heads=2),
        img_size=128,
        num_clusters=[64, 32, 16, 8],
        pos_embed='learned',
        token_pooling='full',
        with_fusion=True,
        pool_num_heads=2,
        out_type='raw'),
    decode_head=dict(
        type='HypercolumnUnpoolHead',
        in_channels=64,
        num_classes=5,
        decoder='linear',
        dropout_ratio=0.,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
tta_model = dict(type='SegTTAModel')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999),
                   weight_decay=0.01))
max_iters = 1200
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0,
         end=50),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=50,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)

# The final class-token norm and the last GraphPool's refinement feed
# nothing differentiable in segmentation (the coarsest level is an argmax):
# let DDP skip their missing gradients.
find_unused_parameters = True
