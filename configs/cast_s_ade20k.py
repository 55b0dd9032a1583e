# CAST-S + Segmenter mask transformer on ADE20K, the release's recipe:
# crop 512, sliding window 512 / stride 512, batch 8 (8 GPUs x 1), 160k
# iterations, SGD lr 1e-3 poly to 1e-5, clusters 320/160/80/40 for 1024
# superpixels per 512x512 crop.
#
# Start from a converted ImageNet checkpoint (docs/segmentation.md):
#   python tools/model_converters/cast2mmcast.py cast_small_deit.pth \
#       checkpoints/cast_s_in1k.pth
# then --cfg-options model.backbone.init_cfg.type=Pretrained \
#   model.backbone.init_cfg.checkpoint=checkpoints/cast_s_in1k.pth
_base_ = [
    './_base_/models/cast_s_segmenter.py',
    './_base_/datasets/ade20k_superpixels.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)))
train_dataloader = dict(batch_size=1)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=160000,
         by_epoch=False)
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
