# Leopart's training data on Pascal VOC: the train_aug images (10,582,
# ImageSets/Segmentation/trainaug.txt as mmseg's voc_aug.py writes it),
# no labels; crops as on COCO.
_base_ = ['./coco_multicrop.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageSetDataset',
        data_root='data/VOCdevkit/VOC2012',
        data_prefix='JPEGImages',
        ann_file='ImageSets/Segmentation/trainaug.txt',
        pipeline={{_base_.train_pipeline}}))
