# Leopart's training data: COCO's train2017 images (no labels), 2 global
# crops of 224 (25-100 % of the image) and 4 local crops of 96 (5-25 %),
# each crop sharing >= 1 % of the image with every global crop; per crop
# colour jitter (strength 1), grey scale and blur as the release; the
# crop boxes travel with the views (PackInputs' algorithm_keys).
dataset_type = 'CustomDataset'
data_root = 'data/coco'

jitter = 1.0  # the release's jitter_strength
crop_views = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.8 * jitter,
                contrast=0.8 * jitter,
                saturation=0.8 * jitter,
                hue=0.2 * jitter)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
]
multi_crop = dict(
    type='MultiCropWithBoxes',
    crop_sizes=(224, 96),
    num_crops=(2, 4),
    scales=((0.25, 1.), (0.05, 0.25)),
    min_intersection=0.01,
    view_pipeline=crop_views)
pack = dict(
    type='PackInputs', algorithm_keys=['crop_boxes'], meta_keys=['img_path'])
train_pipeline = [dict(type='LoadImageFromFile'), multi_crop, pack]
# CAST: every crop also gets its own superpixels, last.
cast_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        multi_crop,
        view_pipeline=crop_views +
        [dict(type='Superpixels', preset='classification')]),
    pack,
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    drop_last=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train2017',
        with_label=False,
        pipeline=train_pipeline))
