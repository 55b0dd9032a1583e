# LarvSeg on CAST-B with C171 + WA150 + I124 (the settings of
# larvseg_vit-b16_c171-wa150-i124_a150.py).
_base_ = [
    './larvseg_cast-b_c171-wa150_a150.py',
    './_base_/datasets/i124_source.py',
]
train_dataloader = dict(
    sampler=dict(source_ratio=_base_.i124_source_ratio),
    dataset=dict(sources=_base_.sources + [_base_.i124]))
model = dict(decode_head=_base_.i124_head)
