# LarvSeg on CAST-B (not in the paper): the setting of
# larvseg_vit-b16_c171-wa150_a150.py with CAST's fused superpixel tokens as
# the pixel groups; SEEDS superpixels (stride 16) computed on every
# augmented crop and test image.
_base_ = [
    './_base_/models/larvseg_cast_b.py',
    './_base_/datasets/larvseg_c171_wa150.py',
    './_base_/schedules/larvseg_sgd_320k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
superpixels = dict(type='Superpixels', stride=16, preset='segmentation')
train_dataloader = dict(
    dataset=dict(pipeline=[superpixels, _base_.pack]))
val_dataloader = dict(
    dataset=dict(pipeline=_base_.test_pipeline[:-1] +
                 [superpixels, dict(type='PackSegInputs')]))
test_dataloader = val_dataloader
model = dict(decode_head=dict(vocab_size=_base_.ade150_coco171_vocab_size))
