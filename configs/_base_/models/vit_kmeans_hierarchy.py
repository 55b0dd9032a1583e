# The ViT + k-means hierarchy baseline (paper appendix E.5): last-block
# tokens upsampled to the image, k-means 64 -> 32 -> 16 -> 8 on cluster
# means, 30 iterations, random initialisation.  Load a stock mmpretrain ViT
# checkpoint (backbone.* weights).
_base_ = ['./hierarchy_runtime.py']
model = dict(
    type='ViTKMeansHierarchy',
    data_preprocessor={{_base_.hierarchy_preprocessor}},
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='small',
        img_size=224,
        patch_size=16,
        out_type='featmap'),
    num_clusters=[64, 32, 16, 8],
    kmeans_iters=30)
