# Drop-in use: mmseg's stock UPerNet on CAST-S's dense feature maps (each
# stage's tokens unpooled to the superpixels and painted on the stride-8
# grid).  Only the backbone, the preprocessor and the pipelines (which add
# superpixels) change.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    './_base_/datasets/ade20k_superpixels.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(
    _delete_=True,
    type='CASTSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='CAST',
        arch='small',
        img_size=224,
        num_clusters=[320, 160, 80, 40],
        pos_embed='learned',
        token_pooling='full',
        drop_path_rate=0.1,
        # No init_cfg: CAST's own initialisation; see cast_s_ade20k.py for
        # starting from released weights.
        out_type='featmap'),
    decode_head=dict(in_channels=[384, 384, 384, 384], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
train_dataloader = dict(batch_size=2)

# The final class-token norm and the last GraphPool feed nothing
# differentiable here: let DDP skip their missing gradients.
find_unused_parameters = True
