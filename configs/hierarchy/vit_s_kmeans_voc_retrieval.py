# Paper Table 3a, ViT-S row before tuning: ViT-S/16 tokens, nested k-means
# down to 40 segments, segment retrieval on VOC val.
_base_ = [
    '../_base_/models/vit_kmeans_hierarchy.py',
    '../_base_/datasets/voc12_retrieval.py'
]
model = dict(num_clusters=[320, 160, 80, 40])
