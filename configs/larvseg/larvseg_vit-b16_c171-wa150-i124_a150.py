# LarvSeg, ViT-B/16, C171 masks + WA150 and I124 image labels, evaluated on
# A150 (paper Table 3: 33.7 / 41.3 / 28.8).
_base_ = [
    './larvseg_vit-b16_c171-wa150_a150.py',
    './_base_/datasets/i124_source.py',
]
train_dataloader = dict(
    sampler=dict(source_ratio=_base_.i124_source_ratio),
    dataset=dict(sources=_base_.sources + [_base_.i124]))
model = dict(decode_head=_base_.i124_head)
