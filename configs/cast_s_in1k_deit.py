# CAST-S supervised on ImageNet-1K with the DeiT recipe (docs/cast.md,
# "Training recipes"):
# batch 1024 (8 GPUs x 128), AdamW lr 5e-4, wd 0.05, 300 epochs, 5 warm-up
# epochs from 1e-6, cosine, RandAugment(m9, mstd 0.5), label smoothing 0.1,
# Mixup 0.8 / CutMix 1.0.  Superpixels (SEEDS, classification preset) are
# computed last, on the augmented crop the network sees; Mixup/CutMix mix
# the images only (each sample keeps its own superpixels, docs/pretrain.md).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
default_scope = 'mmpretrain'

# ---------------------------------------------------------------- model
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='CAST',
        arch=dict(embed_dims=384, depths=[3, 3, 3, 2], num_heads=12),
        img_size=224,
        num_clusters=[64, 32, 16, 8],
        pos_embed='learned',  # the DeiT release's learned table
        token_pooling='stem',
        freeze_last_pool=True,
        drop_path_rate=0.1,  # DeiT's default
        out_type='cls_token'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

# ----------------------------------------------------------------- data
# The base's mean/std/to_rgb/num_classes are kept; only the type changes.
data_preprocessor = dict(type='CASTClsDataPreProcessor')
bgr_mean = [103.53, 116.28, 123.675]
superpixels = dict(type='Superpixels', preset='classification')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',  # rand-m9-mstd0.5-inc1, two ops
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    superpixels,  # last: on the final augmented view
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    superpixels,
    dict(type='PackInputs'),
]

train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# ------------------------------------------------------------- schedule
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=5e-4, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }),
)
param_scheduler = [
    # 5 warm-up epochs from 1e-6 (= 5e-4 * 2e-3), per iteration
    dict(
        type='LinearLR',
        start_factor=1e-6 / 5e-4,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=5,
        end=300,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# lr 5e-4 is for a total batch of 1024; --auto-scale-lr style scaling
auto_scale_lr = dict(base_batch_size=1024)
