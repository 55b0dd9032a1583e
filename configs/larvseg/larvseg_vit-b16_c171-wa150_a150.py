# LarvSeg, ViT-B/16, C171 masks + WA150 image labels, evaluated on A150
# (paper Table 3: 32.4 all / 41.3 base / 26.8 novel).
_base_ = [
    './_base_/models/larvseg_vit_b16.py',
    './_base_/datasets/larvseg_c171_wa150.py',
    './_base_/schedules/larvseg_sgd_320k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
model = dict(decode_head=dict(vocab_size=_base_.ade150_coco171_vocab_size))
