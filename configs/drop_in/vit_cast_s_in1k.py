# mmpretrain's own ViT-B/16 ImageNet-1K config with CAST-S as its backbone
# and nothing else changed: the stock pipeline (no Superpixels transform) and
# the stock ClsDataPreprocessor.  The CAST backbone computes SEEDS
# superpixels of every (normalised) image it receives; see docs/backbone.md,
# "Drop-in".
_base_ = ['mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py']
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='CAST', arch='small'),  # (cls_feat,)
    head=dict(in_channels=384))
