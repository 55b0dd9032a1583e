# CAST-S for Pascal VOC transfer (paper Table 3a "after tuning", appendix
# F.5): the segmentor of cast_s_segmenter.py with the self-supervised
# backbone (fixed sin-cos positions) and, on its hypercolumn tokens fused at
# the superpixels, a 2-layer 1x1 conv head (conv + BN + ReLU, then the
# classifier) instead of the mask transformer.  The backbone comes from a
# MoCo v3 run (configs/ablations/table3a/*_mocov3_coco.py):
#   --cfg-options model.backbone.init_cfg.checkpoint=CHECKPOINT
_base_ = ['./cast_s_segmenter.py']
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on several GPUs
data_preprocessor = dict(size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        pos_embed='sincos',
        drop_path_rate=0.,  # not stated for VOC; none, as for the ViTs
        init_cfg=dict(type='Pretrained', checkpoint='',
                      prefix='backbone.')),
    decode_head=dict(
        _delete_=True,
        type='HypercolumnUnpoolHead',
        in_channels=384,
        channels=384,
        num_classes=21,
        decoder='conv',
        norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)))
