# CAST Table 3a, row "+ token pooling" (patches + GraphPool), after tuning:
# the neck's fused tokens at the patches, the same head, painted on the
# 16x16 patches.
_base_ = ['./cast_s_voc_transfer.py', '../../_base_/models/table3a_vits.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchTokenViT',
        vit={{_base_.vit_s_stage1}},
        neck=dict(type='GraphPoolNeck', num_clusters=[320, 160, 80, 40],
                  with_fusion=True),
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
