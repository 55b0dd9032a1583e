# The paper's baseline (image-level loss only, no CA-Classifier) in the
# LarvSeg setting of larvseg_vit-b16_c171-wa150_a150.py (Table 3: 28.5 /
# 40.9 / 20.8).
_base_ = ['./larvseg_vit-b16_c171-wa150_a150.py']
model = dict(decode_head=dict(use_ca=False))
