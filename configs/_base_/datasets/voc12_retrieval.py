# Pascal VOC 2012 segment retrieval (paper Table 3a, "before tuning"): the
# segments of train_aug (VOC train + SBD aug, 10,582 images, mmseg's layout
# after tools/dataset_converters/voc_aug.py) form the labelled bank, the
# segments of val are labelled by their 20 nearest bank segments.
# Images are resized so that the longer side is 512, 1024 superpixels each.
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='Superpixels', num_superpixels=1024),
    dict(type='PackSegInputs'),
]
voc_train = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    pipeline=test_pipeline)
voc_aug = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='ImageSets/Segmentation/aug.txt',
    pipeline=test_pipeline)
voc_val = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/val.txt',
    pipeline=test_pipeline)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SegmentRetrievalDataset',
        bank=dict(type='ConcatDataset', datasets=[voc_train, voc_aug]),
        query=voc_val))
test_evaluator = dict(type='SegmentRetrievalMetric', level=40, k=20)
