# Linear probe on ImageNet-100 (the paper's 100 classes, read from the
# ImageNet-1K folders): batch 256 (8 GPUs x 32), lr 0.8, 90 epochs.
_base_ = ['./cast_s_linear_in1k.py']

in100_classes = '{{fileDirname}}/_base_/datasets/imagenet100_classes.txt'
model = dict(head=dict(num_classes=100))
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(type='ImageNetSubset', classes=in100_classes))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(type='ImageNetSubset', classes=in100_classes))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=0.8))
auto_scale_lr = dict(base_batch_size=256)
