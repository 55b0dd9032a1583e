# CAST-S segmentor: hypercolumn fusion of the four levels at the
# superpixels, Segmenter's mask transformer (2 layers, dropout 0.1) per
# superpixel, logits painted on the pixels.
data_preprocessor = dict(
    type='CASTSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='CAST',
        arch='small',
        img_size=224,  # the ImageNet checkpoint's position table
        num_clusters=[320, 160, 80, 40],
        pos_embed='learned',
        token_pooling='full',
        with_fusion=True,
        drop_path_rate=0.1,
        # No init_cfg: CAST's own initialisation; start from released
        # weights with --cfg-options model.backbone.init_cfg.type=Pretrained
        # model.backbone.init_cfg.checkpoint=... (docs/segmentation.md).
        out_type='raw'),
    decode_head=dict(
        type='HypercolumnUnpoolHead',
        in_channels=384,
        num_classes=150,
        decoder='mask_transformer',
        num_layers=2,
        num_heads=6,
        drop_rate=0.1,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# The final class-token norm and the last GraphPool's refinement feed
# nothing differentiable in segmentation (the coarsest level is an argmax):
# let DDP skip their missing gradients.
find_unused_parameters = True
