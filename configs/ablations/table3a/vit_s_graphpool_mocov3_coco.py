# CAST Table 3a, row "+ token pooling" (16x16 patches + GraphPool): a stock
# MoCo v3 ViT-S's first 3 layers, then GraphPoolNeck's stages (0, 3, 3, 2
# blocks, 64, 32, 16, 8 segments), MoCo v3 on COCO with CAST's recipe (the
# views' superpixels are ignored).
_base_ = ['./cast_s_mocov3_coco.py', '../../_base_/models/table3a_vits.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchTokenViT',
        vit={{_base_.vit_s_stage1}},
        neck=dict(type='GraphPoolNeck', freeze_last_pool=True),
        out_type='cls_token'))
