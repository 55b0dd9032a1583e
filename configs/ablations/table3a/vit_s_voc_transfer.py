# CAST Table 3a, row "ViT-S", after tuning: the last layer's patch tokens,
# a 2-layer 1x1 conv head (mmseg's FCNHead, one 1x1 conv + BN + ReLU, then
# the classifier); mmseg upsamples the logits bilinearly (the paper
# upsamples the tokens before the head).
_base_ = ['./cast_s_voc_transfer.py', '../../_base_/models/table3a_vits.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchTokenViT',
        vit={{_base_.vit_s}},
        out_type='featmap',
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=384,
        channels=384,
        num_convs=1,
        kernel_size=1,
        concat_input=False,
        num_classes=21,
        norm_cfg={{_base_.norm_cfg}},
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)))
