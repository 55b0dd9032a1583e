# FCN probe of a Leopart ViT-S/16 on Pascal VOC (frozen backbone; paper:
# 71.4 mIoU).  Train:
#   python tools/train.py configs/leopart/probe_fcn_vit_s16_voc.py \
#     --cfg-options model.backbone.init_cfg.checkpoint=LEOPART_CKPT
_base_ = ['./probe_linear_vit_s16_voc.py']

# The release's FCN head: two 3x3 convolutions of 512 channels, the input
# concatenated, dropout 0.1.
model = dict(
    decode_head=dict(
        channels=512, num_convs=2, concat_input=True, dropout_ratio=0.1))
