# CAST's own hierarchy as a test-time model: load any CAST segmentor's or
# classifier's checkpoint (its backbone.* weights).
_base_ = ['./hierarchy_runtime.py']
model = dict(
    type='HierarchySegmentor',
    data_preprocessor={{_base_.hierarchy_preprocessor}},
    backbone=dict(
        type='CAST',
        arch='small',
        img_size=224,
        num_clusters=[64, 32, 16, 8],
        pos_embed='sincos',
        token_pooling='stem'))
