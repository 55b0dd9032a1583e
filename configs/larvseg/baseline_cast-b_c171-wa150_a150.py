# Baseline (no CA-Classifier) of larvseg_cast-b_c171-wa150_a150.py.
_base_ = ['./larvseg_cast-b_c171-wa150_a150.py']
model = dict(decode_head=dict(use_ca=False))
