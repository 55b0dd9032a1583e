# CAST's own hierarchy as a test-time model: load any CAST segmentor's or
# classifier's checkpoint (its backbone.* weights).
default_scope = 'mmseg'
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
model = dict(
    type='HierarchySegmentor',
    data_preprocessor=dict(
        type='CASTSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='CAST',
        arch='small',
        img_size=224,
        num_clusters=[64, 32, 16, 8],
        pos_embed='sincos',
        token_pooling='stem'))
