# Paper Table 3a, CAST-S before tuning: segment retrieval on VOC val with the
# train_aug bank, the 40-segment level (1024 superpixels at 512), hypercolumn
# (fused) features of the self-supervised segmentation model.
_base_ = [
    '../_base_/models/cast_hierarchy.py',
    '../_base_/datasets/voc12_retrieval.py'
]
model = dict(
    backbone=dict(
        num_clusters=[320, 160, 80, 40],
        token_pooling='full',
        with_fusion=True,
        final_norm=False))
