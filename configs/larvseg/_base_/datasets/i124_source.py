# LarvSeg's I124: ImageNet-21k images of the 124 ADE-150 classes that have
# an ImageNet-21k synset, one label per image, 320x320 crops (the release).
# Layout (docs/larvseg.md):
#   data/imagenet21k/fall11_whole/<wnid>/*.JPEG
#   data/imagenet21k/i124_classes.txt      "<wnid> <ADE-150 class name>"
# Only variables: a setting appends `i124` to its sources.
i124_root = 'data/imagenet21k'
i124_crop_size = (320, 320)
i124 = dict(
    name='i124',
    dataset=dict(
        type='ImageLabelFolderDataset',
        data_root=i124_root,
        data_prefix=dict(img_path='fall11_whole'),
        class_file='i124_classes.txt',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResize', scale=i124_crop_size,
                 ratio_range=(0.5, 2.0), keep_ratio=True),
            dict(type='RandomCrop', crop_size=i124_crop_size),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
        ]))
