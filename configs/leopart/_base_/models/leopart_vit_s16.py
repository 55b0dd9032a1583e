# Leopart on ViT-S/16 (DINO's ViT-S/16 = mmpretrain's 'deit-small' arch).
# The student starts from a self-supervised ViT: convert DINO's weights
# with tools/model_converters/dino2mmpretrain.py into
# checkpoints/dino_vits16_mmpretrain.pth (or point init_cfg elsewhere).
# Head (release): 384 -> 2048 -> 2048 -> 256, 300 prototypes, student
# temperature 0.1, Sinkhorn-Knopp eps 0.05 x 3, roi_align to 7x7; teacher
# momentum 0.9995 -> 1 (mmpretrain's EMA weight 0.0005 -> 0); loss on the
# teacher's foreground (60 % of its class attention).
model = dict(
    type='Leopart',
    base_momentum=0.0005,
    end_momentum=0.,
    num_global_crops=2,
    loss_mask='fg',
    keep_mass=0.6,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch=dict(  # = mmpretrain's 'deit-small'
            embed_dims=384,
            num_layers=12,
            num_heads=6,
            feedforward_channels=1536),
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        # chosen: only the last 4 of 12 blocks are trained (spec:
        # "only the last blocks"; the release trains all: -1)
        frozen_stages=8,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/dino_vits16_mmpretrain.pth')),
    head=dict(
        type='LeopartHead',
        in_channels=384,
        hid_channels=2048,
        out_channels=256,
        num_layers=3,
        num_prototypes=300,
        temperature=0.1,
        epsilon=0.05,
        sinkhorn_iters=3,
        roi_size=7))
