# CAST Table 3a, row "+ token pooling" (patches + GraphPool), before
# tuning: the neck's 40-segment level of the 32x32 patches of a 512 image.
_base_ = ['./cast_s_voc_retrieval.py', '../../_base_/models/table3a_vits.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchTokenViT',
        vit={{_base_.vit_s_stage1}},
        neck=dict(type='GraphPoolNeck', num_clusters=[320, 160, 80, 40])))
