# Linear probe of a Leopart ViT-S/16 on Pascal VOC (frozen backbone;
# paper: 69.3 mIoU).  Train:
#   python tools/train.py configs/leopart/probe_linear_vit_s16_voc.py \
#     --cfg-options model.backbone.init_cfg.checkpoint=LEOPART_CKPT
_base_ = [
    './_base_/models/probe_vit_s16.py',
    './_base_/datasets/voc12_aug_probe.py',
    './_base_/schedules/probe_4k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
default_scope = 'mmseg'
