# LarvSeg's setting (1): COCO-Stuff 171 with masks (C171) + ADE20K's
# training images with image-level labels only (weak ADE, WA150), evaluated
# on ADE20K val (A150) with the all / base / novel split.
#
# Both train sources are read in mmseg's layouts (docs/larvseg.md):
#   data/coco_stuff164k/{images,annotations}/train2017   (COCOStuffDataset)
#   data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}
# Every batch comes from one source (MultiSourceSampler, 1:1 like the
# paper's 4:4 GPUs), 2 images per batch.  The packing transform (and, for
# CAST, the superpixels) is the dataset's pipeline.
_base_ = [
    'mmseg::_base_/datasets/ade20k.py',
    './ade150_coco171_vocab.py',
]
coco_root = 'data/coco_stuff164k'
ade_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
augment = [
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
]
# WA150: ADE20K masks turned into the labels of the classes the crop shows.
wa150 = dict(
    name='wa150',
    dataset=dict(
        type='ADE20KDataset',
        data_root=ade_root,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
        ] + augment + [dict(type='MaskToImageLabels')]))
c171 = dict(
    name='c171',
    dataset=dict(
        type='COCOStuffDataset',
        data_root=coco_root,
        data_prefix=dict(
            img_path='images/train2017', seg_map_path='annotations/train2017'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
        ] + augment),
    class_map=_base_.coco171_to_ade150)
# WA150 first: the union vocabulary starts with the 150 ADE classes.
sources = [wa150, c171]
pack = dict(type='PackSegInputsWithImageLabels')
batch_size = 2
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(
        type='MultiSourceSampler', batch_size=batch_size,
        source_ratio=[1, 1]),
    dataset=dict(
        type='MultiSourceSegDataset', sources=sources,
        pipeline=[pack]))
val_dataloader = dict(dataset=dict(data_root=ade_root))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='SplitIoUMetric', iou_metrics=['mIoU'],
    novel_classes=_base_.ade150_novel_classes)
test_evaluator = val_evaluator
