# ViT-S/16 + nested k-means on PartImageNet.
_base_ = [
    '../_base_/models/vit_kmeans_hierarchy.py',
    '../_base_/datasets/partimagenet_hierarchy.py'
]
