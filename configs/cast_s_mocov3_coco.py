# CAST-S MoCo v3 on COCO's images (a folder of unlabeled images, e.g.
# data/coco/train2017): the IN-1K recipe with 400 epochs, 40 warm-up.
_base_ = ['./cast_s_mocov3_in1k.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/coco',
        data_prefix='train2017',
        with_label=False,
        pipeline={{_base_.train_pipeline}}))

max_epochs = 400
warmup_epochs = 40
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
