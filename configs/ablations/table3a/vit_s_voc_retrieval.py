# CAST Table 3a, row "ViT-S", before tuning: the last block's tokens
# upsampled to the image, nested k-means down to 40 segments (the paper's
# ViT baseline), segment retrieval on VOC val.
_base_ = [
    '../../hierarchy/vit_s_kmeans_voc_retrieval.py',
    '../../_base_/models/table3a_vits.py'
]
model = dict(
    backbone=dict(_delete_=True, type='PatchTokenViT', vit={{_base_.vit_s}}))
