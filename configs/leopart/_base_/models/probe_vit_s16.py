# A frozen ViT-S/16 (every block and the final norm) whose patch tokens
# feed a linear head (a 1x1 convolution: FCNHead without convolutions);
# the FCN probe overrides the head.  Weights: the Leopart checkpoint's
# student backbone (prefix 'backbone.'), passed as
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_50.pth
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(448, 448)),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(
            embed_dims=384, num_layers=12, num_heads=6,
            feedforward_channels=1536),
        img_size=448,
        patch_size=16,
        out_type='featmap',
        frozen_stages=12,
        init_cfg=dict(
            type='Pretrained', checkpoint='', prefix='backbone.')),
    decode_head=dict(
        type='FCNHead',
        in_channels=384,
        channels=384,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
