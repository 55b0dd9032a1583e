# As on COCO, 500 epochs on VOC's 10,582 train_aug images (release).
_base_ = ['./leopart_coco_50e.py']
max_epochs = 500
param_scheduler = [dict(s, end=max_epochs) for s in _base_.param_scheduler]
train_cfg = dict(max_epochs=max_epochs)
