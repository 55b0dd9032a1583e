# Linear probe of a Leopart CAST-S on Pascal VOC (frozen backbone): the
# head reads every stage's tokens painted on the stride-8 grid,
# concatenated (a linear map of them includes Leopart's mean of stages).
_base_ = ['./probe_linear_vit_s16_voc.py']

model = dict(
    data_preprocessor=dict(type='CASTSegDataPreProcessor'),
    backbone=dict(
        _delete_=True,
        type='CAST',
        arch=dict(embed_dims=384, depths=[3, 3, 3, 2], num_heads=12),
        img_size=224,
        num_clusters=[64, 32, 16, 8],
        out_type='featmap',
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    decode_head=dict(
        in_channels=[384] * 4,
        in_index=[0, 1, 2, 3],
        input_transform='resize_concat',
        channels=1536))
train_dataloader = dict(dataset=dict(pipeline={{_base_.cast_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.cast_test_pipeline}}))
test_dataloader = val_dataloader
