# Leopart on ViT-S/16 (DINO start), trained on VOC's train_aug images.
_base_ = [
    './_base_/models/leopart_vit_s16.py',
    './_base_/datasets/voc_multicrop.py',
    './_base_/schedules/leopart_voc_500e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
default_scope = 'mmpretrain'
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
