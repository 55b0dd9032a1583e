# The hierarchy of the quickstart's toy CAST (configs/cast_toy_scenes.py) on
# the toy validation scenes:
#   python tools/analysis_tools/eval_hierarchy.py \
#       configs/hierarchy/cast_toy_scenes.py work_dirs/quickstart/iter_1200.pth
_base_ = [
    '../_base_/models/cast_hierarchy.py',
    '../_base_/datasets/toy_scenes_hierarchy.py'
]
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, depths=[1, 1, 1, 1], num_heads=2),
        img_size=128,
        pos_embed='learned',
        token_pooling='full',
        with_fusion=True,
        pool_num_heads=2))
