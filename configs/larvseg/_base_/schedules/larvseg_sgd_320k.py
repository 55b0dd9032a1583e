# LarvSeg's schedule (paper Sec. 4.3): 320k iterations, SGD lr 1e-3,
# momentum 0.9, no weight decay, poly (power 0.9) to 1e-5.
_base_ = ['mmseg::_base_/schedules/schedule_320k.py']
optimizer = dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=320000,
         by_epoch=False)
]
