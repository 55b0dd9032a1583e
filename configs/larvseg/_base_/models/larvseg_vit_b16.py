# ViT-B/16 (mmseg's VisionTransformer, final LayerNorm) + LarvSeg's head on
# its last feature map (32x32 for a 512 crop).  The release starts from
# ImageNet-21k weights (augreg B_16-i21k); convert them with mmseg's
# tools/model_converters/vit2mmseg.py and set
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...).
_base_ = ['./larvseg_head.py']
data_preprocessor = dict(
    type='SegDataPreProcessor',
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
        type='VisionTransformer',
        img_size=(512, 512),
        patch_size=16,
        in_channels=3,
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        out_indices=-1,
        qkv_bias=True,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.1,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        interpolate_mode='bicubic',
        init_cfg=None),
    decode_head=_base_.larvseg_head,
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(512, 512)))
