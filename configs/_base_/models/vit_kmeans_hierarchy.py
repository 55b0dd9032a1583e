# The ViT + k-means hierarchy baseline (paper appendix E.5): last-block
# tokens upsampled to the image, k-means 64 -> 32 -> 16 -> 8 on cluster
# means, 30 iterations, random initialisation.  Load a stock mmpretrain ViT
# checkpoint (backbone.* weights).
default_scope = 'mmseg'
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
model = dict(
    type='ViTKMeansHierarchy',
    data_preprocessor=dict(
        type='CASTSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='small',
        img_size=224,
        patch_size=16,
        out_type='featmap'),
    num_clusters=[64, 32, 16, 8],
    kmeans_iters=30)
