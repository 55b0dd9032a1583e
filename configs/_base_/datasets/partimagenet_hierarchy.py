# PartImageNet test split for hierarchy evaluation (paper Table 1): objects
# (11 super-categories + background) at the 8-segment level, parts (40 +
# background) at the 16-segment level, region mIoU per image and boundary F.
# Images are resized to 224 x 224, as the classification models saw them
# (inferred: the paper does not state the test resolution).
dataset_type = 'PartImageNetDataset'
data_root = 'data/PartImageNet'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='LoadPartAnnotations'),
    dict(type='Superpixels', preset='classification'),
    dict(type='PackPartSegInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
test_evaluator = [
    dict(type='HierarchyMetric', levels=[8], gt_key='gt_sem_seg',
         prefix='object'),
    dict(type='HierarchyMetric', levels=[16], gt_key='gt_part_seg',
         classes_key='part_classes', prefix='part'),
]
# Test-time adaptation (tools/analysis_tools/tent_hierarchy.py): class means
# from the train split, each image labelled by its object class (the
# background, 11, left out).
tent_means_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=test_pipeline))
tent_ignore_classes = [11]
