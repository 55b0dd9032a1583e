# Leopart's optimisation (release configs): AdamW, backbone lr 1e-5, head
# (projection and prototypes) lr 1e-4, both cosine to 0 over training; no
# weight decay on norms and biases, the others' decay cosine 0.04 -> 0.5;
# 50 epochs on COCO with a total batch of 64 (2 GPUs x 32).
max_epochs = 50
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-5, weight_decay=0.04),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        flat_decay_mult=0.,
        custom_keys={'head.': dict(lr_mult=10.)}))
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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=64)
