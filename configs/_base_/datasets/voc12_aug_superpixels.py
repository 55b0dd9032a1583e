# mmseg's Pascal VOC 2012 + SBD aug settings (train: VOC train + aug, 10,582
# images; val: 1,449) with SEEDS superpixels (H*W/16^2, 1024 per 512x512
# crop) computed on the final augmented image.  Single-scale testing, the
# longer side resized to 512 (paper appendix F.5).
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py']
crop_size = (512, 512)
superpixels = dict(type='Superpixels', stride=16, preset='segmentation')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    superpixels,
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    superpixels,
    dict(type='PackSegInputs'),
]
splits = [('SegmentationClass', 'train.txt'),
          ('SegmentationClassAug', 'aug.txt')]
train_dataloader = dict(
    batch_size=2,  # x 8 GPUs = 16
    dataset=dict(datasets=[
        dict(type={{_base_.dataset_type}},
             data_root={{_base_.data_root}},
             data_prefix=dict(img_path='JPEGImages', seg_map_path=masks),
             ann_file='ImageSets/Segmentation/' + ann,
             pipeline=train_pipeline) for masks, ann in splits
    ]))
del splits  # keep the dumped config plain data
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='BoundaryFMetric'),
]
test_evaluator = val_evaluator
