# VOC transfer (paper appendix F.5): SGD lr 0.003, weight decay 1e-4, poly
# schedule (power 0.9), 30k iterations, batch 16 (8 GPUs x 2).  Momentum is
# not stated: mmseg's 0.9.
_base_ = ['mmseg::_base_/schedules/schedule_40k.py']
optim_wrapper = dict(optimizer=dict(lr=0.003, weight_decay=1e-4))
max_iters = 30000
param_scheduler = [
    dict(type='PolyLR', eta_min=0., power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=3000)
default_hooks = dict(checkpoint=dict(interval=3000))
auto_scale_lr = dict(enable=False, base_batch_size=16)
