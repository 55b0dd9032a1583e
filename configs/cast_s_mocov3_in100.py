# CAST-S MoCo v3 on ImageNet-100 (the paper's 100 classes, read from the
# ImageNet-1K folders): the IN-1K recipe with 200 epochs, 20 warm-up.
_base_ = ['./cast_s_mocov3_in1k.py']

train_dataloader = dict(
    dataset=dict(
        type='ImageNetSubset',
        classes='{{fileDirname}}/_base_/datasets/imagenet100_classes.txt'))

max_epochs = 200
warmup_epochs = 20
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
