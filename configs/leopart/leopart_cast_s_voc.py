# Leopart on CAST-S (MoCo v3 start), trained on VOC's train_aug images; every
# crop carries its own superpixels.
_base_ = [
    './_base_/models/leopart_cast_s.py',
    './_base_/datasets/voc_multicrop.py',
    './_base_/schedules/leopart_voc_500e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
default_scope = 'mmpretrain'

train_dataloader = dict(dataset=dict(pipeline={{_base_.cast_train_pipeline}}))
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
