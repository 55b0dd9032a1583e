# LarvSeg on CAST-B with C171 + WA150 + I124 (the settings of
# larvseg_vit-b16_c171-wa150-i124_a150.py).
_base_ = [
    './larvseg_cast-b_c171-wa150_a150.py',
    './_base_/datasets/i124_source.py',
]
train_dataloader = dict(
    sampler=dict(source_ratio=[3, 3, 2]),
    dataset=dict(sources=_base_.sources + [_base_.i124]))
model = dict(
    decode_head=dict(
        topk=40,
        bg_thresh=0.35,
        bg_profile_thresh=2.0,
        source_loss_weights=dict(
            wa150=dict(loss_cls=0.2), i124=dict(loss_cls=0.2))))
