# Copyright (c) mmcast contributors. All rights reserved.
"""Classification images as a segmentation-side dataset: one image-level
label per image, from its folder (LarvSeg's ImageNet-21k subsets)."""
import os.path as osp
from typing import Dict, List, Tuple, Union

from mmengine import fileio
from mmseg.datasets import BaseSegDataset

from mmcast.registry import register_seg_dataset


def read_folder_classes(path: str) -> Dict[str, str]:
    """Read a ``folder class name`` file: per line a folder (an ImageNet
    wnid), a space and the class name (which may hold spaces); blank lines
    and ``#`` comments are skipped.  Several folders may share a class."""
    table = {}
    for num, line in enumerate(fileio.get_text(path).splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f'{path}:{num}: expected "<folder> <class '
                             f'name>", got {line!r}')
        if parts[0] in table:
            raise ValueError(f'{path}:{num}: folder {parts[0]} listed twice')
        table[parts[0]] = parts[1].strip()
    if not table:
        raise ValueError(f'{path} lists no class')
    return table


@register_seg_dataset
class ImageLabelFolderDataset(BaseSegDataset):
    """Images in one folder per class, with the folder's class as the
    image-level label (``gt_image_labels``) and no mask.

    The layout (ImageNet-21k as distributed, plus a class file)::

        <data_root>/<img_path>/<folder>/*.JPEG   e.g. fall11_whole/n03001627/
        <data_root>/<class_file>                 "<folder> <class name>"

    Only the listed folders are read.  Classes are the distinct names of
    the class file in order of first appearance; labels index them.  Used
    as a classification source of :class:`MultiSourceSegDataset` (LarvSeg's
    I124: the ImageNet-21k synsets of ADE-150 classes).

    Args:
        class_file (str): the class file, relative to ``data_root`` unless
            absolute.
        data_prefix (dict): ``img_path``, the image folder under
            ``data_root``. Defaults to ``'fall11_whole'``.
        img_suffix (str | tuple): image file suffixes. Defaults to
            ``('.JPEG', '.jpg', '.jpeg', '.png')``.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict()

    def __init__(self,
                 class_file: str,
                 data_root: str = '',
                 data_prefix: dict = dict(img_path='fall11_whole'),
                 img_suffix: Union[str, Tuple[str, ...]] = ('.JPEG', '.jpg',
                                                            '.jpeg', '.png'),
                 **kwargs):
        if not osp.isabs(class_file) and data_root:
            class_file = osp.join(data_root, class_file)
        if not osp.isfile(class_file):
            raise FileNotFoundError(
                f'class file {class_file} not found: it lists "<folder> '
                '<class name>" per line (see docs/larvseg.md)')
        self.folder_classes = read_folder_classes(class_file)
        classes = tuple(dict.fromkeys(self.folder_classes.values()))
        metainfo = dict(kwargs.pop('metainfo', None) or {}, classes=classes)
        super().__init__(data_root=data_root, data_prefix=data_prefix,
                         img_suffix=img_suffix, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix['img_path']
        classes = self.metainfo['classes']
        data_list, missing = [], []
        for folder, name in self.folder_classes.items():
            path = osp.join(img_dir, folder)
            if not osp.isdir(path):
                missing.append(folder)
                continue
            files = sorted(
                f for f in fileio.list_dir_or_file(
                    path, list_dir=False, suffix=self.img_suffix,
                    recursive=True, backend_args=self.backend_args))
            data_list += [
                dict(img_path=osp.join(path, f),
                     gt_image_labels=[classes.index(name)], label_map=None,
                     reduce_zero_label=False, seg_fields=[]) for f in files
            ]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} listed class folders are missing under '
                f'{img_dir}, e.g. {missing[0]}')
        if not data_list:
            raise FileNotFoundError(f'no image in the listed folders under '
                                    f'{img_dir}')
        return data_list
