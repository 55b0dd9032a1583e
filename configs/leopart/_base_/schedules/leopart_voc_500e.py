# As on COCO, 500 epochs on VOC's 10,582 train_aug images (release).
_base_ = ['./leopart_coco_50e.py']
max_epochs = 500
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingWeightDecay',
        eta_min=0.5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
