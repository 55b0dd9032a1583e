# Copyright (c) mmcast contributors. All rights reserved.
"""PartImageNet (He et al., 2021), objects and parts, as CAST's Table 1
evaluates it.

The layout it is distributed in (``PartImageNet_Seg``)::

    data/PartImageNet/
        images/{train,val,test}/n01440764_10029.JPEG
        annotations/{train,val,test}/n01440764_10029.png   part ids 0..39,
                                                            40 = background
        annotations/{train,val,test}.json (or .../<split>/<split>.json)
                                                            COCO categories

Parts belong to 11 super-categories; the object mask of an image is its part
mask with every part replaced by its super-category (12 classes with the
background).  The part -> super-category table is read from the split's COCO
json when it is there, else the table below (the categories' order in
PartImageNet's json: super-categories in the order of its README, parts
contiguous; inferred, see docs/evaluation.md).
"""
import json
import os.path as osp
from typing import List, Optional, Sequence

import mmengine
from mmseg.datasets import BaseSegDataset

from mmcast.registry import register_seg_dataset

#: Super-categories and their parts, in the order of the part ids.
PARTS_BY_OBJECT = (
    ('Quadruped', ('Head', 'Body', 'Foot', 'Tail')),
    ('Biped', ('Head', 'Body', 'Hand', 'Foot', 'Tail')),
    ('Fish', ('Head', 'Body', 'Fin', 'Tail')),
    ('Bird', ('Head', 'Body', 'Wing', 'Foot', 'Tail')),
    ('Snake', ('Head', 'Body')),
    ('Reptile', ('Head', 'Body', 'Foot', 'Tail')),
    ('Car', ('Body', 'Tier', 'Side Mirror')),
    ('Bicycle', ('Head', 'Body', 'Seat', 'Tier')),
    ('Boat', ('Body', 'Sail')),
    ('Aeroplane', ('Head', 'Body', 'Wing', 'Engine', 'Tail')),
    ('Bottle', ('Body', 'Mouth')),
)
OBJECT_CLASSES = tuple(o for o, _ in PARTS_BY_OBJECT) + ('background', )
PART_CLASSES = tuple(f'{o} {p}' for o, parts in PARTS_BY_OBJECT
                     for p in parts) + ('background', )
#: Object class of every part id (the background maps to the background).
PART_TO_OBJECT = tuple(i for i, (_, parts) in enumerate(PARTS_BY_OBJECT)
                       for _ in parts) + (len(PARTS_BY_OBJECT), )


def part_to_object_from_coco(path: str,
                             backend_args: Optional[dict] = None
                             ) -> List[int]:
    """Part -> object table from a PartImageNet COCO json.

    Objects are the super-categories in order of first appearance over the
    sorted category ids; the background (the id after the last part) maps
    to the last object id.
    """
    cats = json.loads(mmengine.fileio.get_text(path, backend_args))[
        'categories']
    cats = sorted(cats, key=lambda c: c['id'])
    if [c['id'] for c in cats] != list(range(len(cats))):
        raise ValueError(f'{path}: part category ids must be 0..N-1')
    supers = list(dict.fromkeys(c['supercategory'] for c in cats))
    return [supers.index(c['supercategory']) for c in cats] + [len(supers)]


@register_seg_dataset
class PartImageNetDataset(BaseSegDataset):
    """PartImageNet with object and part masks (registered in mmseg).

    Use :class:`~mmcast.datasets.transforms.LoadPartAnnotations` in the
    pipeline: it loads the part mask as ``gt_part_seg_map`` and derives the
    object mask as ``gt_seg_map``; :class:`~mmcast.datasets.transforms.
    PackPartSegInputs` packs them as ``gt_sem_seg`` (12 object classes) and
    ``gt_part_seg`` (41 part classes).  The metainfo holds ``classes``
    (objects), ``part_classes`` and ``part_to_object``.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'test'``: the image and
            annotation folders unless ``data_prefix`` says otherwise.
        data_root (str): e.g. ``'data/PartImageNet'``.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` options.
    """
    METAINFO = dict(
        classes=OBJECT_CLASSES,
        part_classes=PART_CLASSES,
        part_to_object=PART_TO_OBJECT,
        palette=[[(37 * i) % 256, (91 * i) % 256, (151 * i) % 256]
                 for i in range(len(OBJECT_CLASSES))])

    def __init__(self,
                 split: str = 'test',
                 data_prefix: Optional[dict] = None,
                 img_suffix: str = '.JPEG',
                 seg_map_suffix: str = '.png',
                 **kwargs):
        self.split = split
        data_prefix = data_prefix or dict(
            img_path=f'images/{split}', seg_map_path=f'annotations/{split}')
        super().__init__(data_prefix=data_prefix, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)

    def _coco_json(self) -> Optional[str]:
        ann_dir = self.data_prefix.get('seg_map_path', '')
        for path in (osp.join(ann_dir, f'{self.split}.json'),
                     osp.join(osp.dirname(ann_dir), f'{self.split}.json')):
            if mmengine.fileio.exists(path, self.backend_args):
                return path
        return None

    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix.get('img_path', '')
        if not mmengine.fileio.exists(img_dir, self.backend_args):
            raise FileNotFoundError(
                f'PartImageNet images not found at {img_dir}: expected '
                'data_root/images/<split>/*.JPEG (docs/datasets.md)')
        table = list(PART_TO_OBJECT)
        coco = self._coco_json()
        if coco is not None:
            table = part_to_object_from_coco(coco, self.backend_args)
            if len(table) != len(PART_TO_OBJECT):
                raise ValueError(f'{coco} lists {len(table) - 1} parts, '
                                 f'PartImageNet has {len(PART_TO_OBJECT) - 1}')
        self._metainfo['part_to_object'] = tuple(table)
        data_list = super().load_data_list()
        for info in data_list:
            info['part_to_object'] = table
        return data_list

    @staticmethod
    def parts_of(obj: int, table: Sequence[int] = PART_TO_OBJECT
                 ) -> List[int]:
        """Part ids of an object class."""
        return [p for p, o in enumerate(table) if o == obj]
