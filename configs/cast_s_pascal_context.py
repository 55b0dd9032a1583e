# CAST-S + mask transformer on Pascal-Context (59 classes), the release's
# recipe: image 520, crop 480, sliding window 480 / stride 320, batch 16
# (8 GPUs x 2), 80k iterations, SGD lr 1e-3 poly to 1e-5; 900 superpixels
# per 480x480 crop.
_base_ = [
    './_base_/models/cast_s_segmenter.py',
    './_base_/datasets/pascal_context_59_superpixels.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

crop_size = (480, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=59),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(320, 320)))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=80000,
         by_epoch=False)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
