# Linear probe of a self-supervised CAST-S on ImageNet-1K (MoCo v3
# protocol, docs/cast.md "Training recipes"): frozen backbone, SGD
# momentum 0.9, wd 0, lr 30, batch 1024 (8 GPUs x 128), 90 epochs, cosine.
# The backbone comes from a pre-training checkpoint whose keys start with
# 'backbone.' (a cast_s_mocov3_* run, or a release file converted with
# cast2mmcast.py --prefix backbone.):
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
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
        pos_embed='sincos',
        token_pooling='stem',
        freeze_last_pool=True,
        frozen_stages=4,  # everything: stem, positions, stages, norm
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear')),
)

# ----------------------------------------------------------------- data
data_preprocessor = dict(type='CASTClsDataPreProcessor')
superpixels = dict(type='Superpixels', preset='classification')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    superpixels,
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    superpixels,
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# ------------------------------------------------------------- schedule
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90)
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=1024)
