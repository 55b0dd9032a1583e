# The ADE-150 / COCO-Stuff-171 vocabulary of LarvSeg's main setting.
#
# COCO-Stuff class -> ADE-150 class for the COCO classes that are an ADE
# class under another name (classes with the same name in both merge by
# name).  Several COCO classes may map to one ADE class (the wall-* stuff
# classes to 'wall'); mmseg's ADE name 'bed ' has a trailing space.  The
# ADE classes reached by a COCO class (same name or this table) are the 63
# base classes; the other 87 are the novel classes of the paper's A150
# evaluation (tests/test_larvseg_configs.py checks both lists against each
# other and the counts against the paper's Table 2).
coco171_to_ade150 = {
    'wall-brick': 'wall', 'wall-concrete': 'wall', 'wall-other': 'wall',
    'wall-panel': 'wall', 'wall-stone': 'wall', 'wall-tile': 'wall',
    'wall-wood': 'wall',
    'building-other': 'building',
    'sky-other': 'sky',
    'floor-marble': 'floor', 'floor-other': 'floor', 'floor-stone': 'floor',
    'floor-tile': 'floor', 'floor-wood': 'floor',
    'ceiling-other': 'ceiling', 'ceiling-tile': 'ceiling',
    'bed': 'bed ',
    'window-other': 'windowpane',
    'window-blind': 'blind',
    'door-stuff': 'door',
    'plant-other': 'plant', 'potted plant': 'plant',
    'water-other': 'water',
    'mirror-stuff': 'mirror',
    'desk-stuff': 'desk',
    'dining table': 'table',
    'tv': 'television receiver',
    'dirt': 'dirt track',
    'food-other': 'food',
    'wine glass': 'glass',
}
# ADE-150 classes with no COCO-Stuff counterpart (image-level labels only).
ade150_novel_classes = [
    'sidewalk', 'earth', 'painting', 'sofa', 'field', 'armchair', 'seat',
    'wardrobe', 'lamp', 'bathtub', 'cushion', 'base', 'box', 'column',
    'signboard', 'chest of drawers', 'fireplace', 'grandstand', 'path',
    'runway', 'case', 'pool table', 'screen door', 'stairway', 'bookcase',
    'coffee table', 'countertop', 'stove', 'palm', 'kitchen island',
    'computer', 'swivel chair', 'bar', 'arcade machine', 'hovel', 'tower',
    'chandelier', 'awning', 'streetlight', 'booth', 'apparel', 'pole',
    'land', 'bannister', 'escalator', 'ottoman', 'buffet', 'poster',
    'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer',
    'plaything', 'swimming pool', 'stool', 'barrel', 'basket', 'waterfall',
    'bag', 'minibike', 'cradle', 'ball', 'step', 'tank', 'trade name', 'pot',
    'animal', 'lake', 'dishwasher', 'screen', 'sculpture', 'hood', 'sconce',
    'tray', 'ashcan', 'fan', 'pier', 'crt screen', 'plate', 'monitor',
    'bulletin board', 'shower', 'radiator', 'flag'
]
# Union vocabulary: the 150 ADE classes (first, so that the head predicts
# ids 0..149 at test time), then the 95 COCO classes with no ADE
# counterpart.
ade150_coco171_vocab_size = 245
