# Baseline (no CA-Classifier) of larvseg_vit-b16_c171-wa150-i124_a150.py
# (paper Table 3: 31.3 / 40.7 / 25.3).
_base_ = ['./larvseg_vit-b16_c171-wa150-i124_a150.py']
model = dict(decode_head=dict(use_ca=False))
