# CAST Table 3a, row "CAST-S", after tuning: VOC transfer of the MoCo v3
# COCO backbone (2-layer 1x1 conv head on the fused tokens, SGD lr 0.003,
# wd 1e-4, poly 0.9, 30k iterations, batch 16, crop 512; appendix F.5),
# scored by mIoU and boundary F:
#   tools/train.py THIS_CONFIG --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_400.pth
_base_ = [
    '../../_base_/models/cast_s_voc_transfer.py',
    '../../_base_/datasets/voc12_aug_superpixels.py',
    '../../_base_/schedules/voc12_transfer_30k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
