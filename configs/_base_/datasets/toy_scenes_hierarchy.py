# The toy scenes' validation split (tools/quickstart.py generates it) for
# hierarchy evaluation: 5 classes, the 8-segment level against the masks.
dataset_type = 'ToyScenesDataset'
data_root = 'data/toy_scenes'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Superpixels', stride=8),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_evaluator = [
    dict(type='HierarchyMetric', levels=[8, 16], prefix='toy'),
    dict(type='ClusteringMetric', level='units', prefix='toy'),
]
# Test-time adaptation (tools/analysis_tools/tent_hierarchy.py): class means
# from the training scenes, each labelled by its most frequent object class
# (sky = 0 and ground = 1 left out).
tent_means_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=test_pipeline))
tent_ignore_classes = [0, 1]
