# CAST-B (mmcast's segmentor base, arch 'base') + LarvSeg's head on the
# fused (hypercolumn) superpixel tokens, logits painted on the
# superpixels' pixels.  Start from a converted CAST-B ImageNet checkpoint
# (docs/segmentation.md) with
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...).
_base_ = [
    '../../../_base_/models/cast_s_segmenter.py',
    './larvseg_head.py',
]
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(arch='base'),
    decode_head=dict(_delete_=True, **_base_.larvseg_head),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(512, 512)))
