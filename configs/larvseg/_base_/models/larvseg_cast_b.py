# CAST-B + LarvSeg's cosine classifier on the fused (hypercolumn)
# superpixel tokens, logits painted on the superpixels' pixels.  Start from
# a converted CAST-B ImageNet checkpoint (docs/segmentation.md) with
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...).
data_preprocessor = dict(
    type='CASTSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='CAST',
        arch='base',
        img_size=224,
        num_clusters=[320, 160, 80, 40],
        pos_embed='learned',
        token_pooling='full',
        with_fusion=True,
        drop_path_rate=0.1,
        out_type='raw',
        init_cfg=None),
    decode_head=dict(
        type='LarvSegHead',
        in_channels=768,
        channels=768,
        num_classes=150,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(512, 512)))
# The final class-token norm and the last GraphPool's refinement feed
# nothing differentiable in segmentation.
find_unused_parameters = True
