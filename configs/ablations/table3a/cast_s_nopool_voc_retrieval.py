# CAST Table 3a, row "+ superpixel" (no pooling), before tuning: with no
# coarse level of its own, the extra GraphPool of the paper (appendix F.5)
# groups the 1024 superpixels into the 40 segments that are retrieved.
_base_ = ['./cast_s_voc_retrieval.py']
model = dict(
    backbone=dict(pooling=None),
    coarse_pool=dict(type='GraphPool', num_clusters=40,
                     embed_dims=4 * 384))  # the concatenated hypercolumn
