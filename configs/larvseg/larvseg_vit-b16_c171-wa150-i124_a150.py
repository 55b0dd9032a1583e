# LarvSeg, ViT-B/16, C171 masks + WA150 and I124 image labels, evaluated on
# A150 (paper Table 3: 33.7 / 41.3 / 28.8).  Batches C171 : WA150 : I124 =
# 3 : 3 : 2 (the paper's GPU split); the release's ImageNet settings:
# lambda_cls 0.2 on both label sources, K = 40, background threshold
# 0.35 and profile threshold 2.0 for single-label images.
_base_ = [
    './larvseg_vit-b16_c171-wa150_a150.py',
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
