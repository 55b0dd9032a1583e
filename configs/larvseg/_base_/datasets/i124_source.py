# LarvSeg's I124: ImageNet-21k images of the 124 ADE-150 classes that have
# an ImageNet-21k synset, one label per image, 320x320 crops (the release).
# Layout (docs/larvseg.md):
#   data/imagenet21k/fall11_whole/<wnid>/*.JPEG
#   data/imagenet21k/i124_classes.txt      "<wnid> <ADE-150 class name>"
# Only variables: a setting appends `i124` to its sources, batches
# C171 : WA150 : I124 = 3 : 3 : 2 (the paper's GPU split; WA150 is the
# first source), and takes the release's ImageNet settings for the head:
# lambda_cls 0.2 on both label sources, K = 40, background threshold 0.35
# and profile threshold 2.0 for single-label images.
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
i124_source_ratio = [3, 3, 2]
i124_head = dict(
    topk=40,
    bg_thresh=0.35,
    bg_profile_thresh=2.0,
    source_loss_weights=dict(
        wa150=dict(loss_cls=0.2), i124=dict(loss_cls=0.2)))
