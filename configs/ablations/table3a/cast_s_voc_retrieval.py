# CAST Table 3a, row "CAST-S", before tuning: segment retrieval on VOC val
# (train_aug bank, 20 neighbours) of the 40-segment level at 512 px (1024
# superpixels; the last GraphPool gives the coarse segments).  The
# hypercolumn is every stage's normalised tokens unpooled to the
# superpixels and concatenated: the MoCo v3 checkpoints of this folder carry
# no fusion weights.  Load one with:
#   tools/test.py THIS_CONFIG work_dirs/cast_s_mocov3_coco/epoch_400.pth
_base_ = ['../../hierarchy/cast_s_mocov3_voc_retrieval.py']
model = dict(
    feature='concat',
    backbone=dict(with_fusion=False, final_norm=True))
