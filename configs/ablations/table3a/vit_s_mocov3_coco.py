# CAST Table 3a, row "ViT-S" (16x16 patches, no pooling): mmpretrain's MoCo
# v3 ViT-S/16 with CAST's recipe on COCO (the views' superpixels are
# ignored).
_base_ = ['./cast_s_mocov3_coco.py', '../../_base_/models/table3a_vits.py']
model = dict(
    backbone=dict(_delete_=True, type='PatchTokenViT', vit={{_base_.vit_s}}))
