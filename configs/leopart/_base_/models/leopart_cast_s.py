# Leopart on CAST-S, from a self-supervised CAST-S (MoCo v3 on COCO,
# configs/cast_s_mocov3_coco.py; or the authors' checkpoint converted by
# tools/model_converters/cast2mmcast.py).  Dense tokens: every stage's
# block tokens unpooled to the superpixels and averaged, on the stride-8
# grid; the foreground comes from the class token's attention in the last
# block (with_cls_attention).  Head and teacher as for ViT-S/16.
_base_ = ['./leopart_vit_s16.py']

model = dict(
    cast_level='all',
    data_preprocessor=dict(type='CASTSelfSupDataPreProcessor'),
    backbone=dict(
        _delete_=True,
        type='CAST',
        arch=dict(embed_dims=384, depths=[3, 3, 3, 2], num_heads=12),
        img_size=224,
        num_clusters=[64, 32, 16, 8],
        pos_embed='sincos',
        token_pooling='stem',
        drop_path_rate=0.1,
        out_type='raw',
        with_cls_attention=True,
        # chosen: the last two of the four stages are trained
        frozen_stages=2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/cast_s_mocov3_coco.pth')))
# the last GraphPool only gives the hierarchy (argmax): no gradient
find_unused_parameters = True
