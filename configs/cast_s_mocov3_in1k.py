# CAST-S self-supervised with MoCo v3 on ImageNet-1K (docs/cast.md,
# "Training recipes"):
# batch 256 (8 GPUs x 32), AdamW lr 1.5e-4, wd 0.1, temperature 0.2,
# projector/predictor out 256 hidden 4096, momentum 0.99 (cosine to 1),
# cosine schedule, 100 epochs with 10 warm-up.  Every view has its own
# superpixels: each view's pipeline ends with Superpixels.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs512_mocov3.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
default_scope = 'mmpretrain'

# ----------------------------------------------------------------- data
# The base's mean/std/to_rgb are kept; only the type changes.
data_preprocessor = dict(type='CASTSelfSupDataPreProcessor')
superpixels = dict(type='Superpixels', preset='classification')


def moco_view(blur_prob, solarize_prob):
    """One MoCo v3 view (ViT crop scale 0.08-1), superpixels last."""
    return [
        dict(
            type='RandomResizedCrop',
            scale=224,
            crop_ratio_range=(0.08, 1.),
            backend='pillow'),
        dict(
            type='RandomApply',
            transforms=[
                dict(
                    type='ColorJitter',
                    brightness=0.4,
                    contrast=0.4,
                    saturation=0.2,
                    hue=0.1)
            ],
            prob=0.8),
        dict(
            type='RandomGrayscale',
            prob=0.2,
            keep_channels=True,
            channel_weights=(0.114, 0.587, 0.2989)),
        dict(
            type='GaussianBlur',
            magnitude_range=(0.1, 2.0),
            magnitude_std='inf',
            prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
        dict(type='RandomFlip', prob=0.5),
        superpixels,
    ]


view_pipeline1 = moco_view(blur_prob=1., solarize_prob=0.)
view_pipeline2 = moco_view(blur_prob=0.1, solarize_prob=0.2)
del moco_view  # keep the dumped config plain data
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    # re-declared: inherited through 'mmpretrain::' it carries a '_scope_'
    # key that mmengine would pass on to default_collate as an argument
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=train_pipeline))

# ---------------------------------------------------------------- model
temperature = 0.2
model = dict(
    type='MoCoV3',
    # mmengine's EMA weight of the online model: 1 - 0.99, annealed to 0
    base_momentum=0.01,
    backbone=dict(
        type='CAST',
        arch=dict(embed_dims=384, depths=[3, 3, 3, 2], num_heads=12),
        img_size=224,
        num_clusters=[64, 32, 16, 8],
        pos_embed='sincos',  # fixed 2-D sin-cos table, MoCo v3 release
        token_pooling='stem',
        freeze_last_pool=True,
        out_type='cls_token'),
    neck=dict(
        type='NonLinearNeck',
        in_channels=384,
        hid_channels=4096,
        out_channels=256,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False),
    head=dict(
        type='MoCoV3Head',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False),
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * temperature),
        temperature=temperature))

# ------------------------------------------------------------- schedule
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4, weight_decay=0.1))
# the frozen last GraphPool gets no gradient
find_unused_parameters = True

max_epochs = 100
warmup_epochs = 10
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# lr 1.5e-4 is for a total batch of 256
auto_scale_lr = dict(base_batch_size=256)
