# mmseg's own SegFormer-B0 ADE20K config with CAST-S as its backbone and
# nothing else changed: the stock pipeline (no Superpixels transform) and the
# stock SegDataPreProcessor.  The CAST backbone computes SEEDS superpixels of
# every (normalised) image it receives; see docs/backbone.md, "Drop-in".
_base_ = ['mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='CAST', arch='small',
                  out_type='featmap'),  # one (B, 384, H/8, W/8) map a stage
    decode_head=dict(in_channels=[384, 384, 384, 384]))
