# Copyright (c) mmcast contributors. All rights reserved.
import os.path as osp
from typing import Sequence, Union

from mmengine.fileio import get_file_backend, list_from_file
from mmengine.logging import MMLogger
from mmpretrain.datasets import CustomDataset

from mmcast.registry import register_pretrain_dataset


@register_pretrain_dataset
class ImageNetSubset(CustomDataset):
    """ImageNet restricted to a list of classes, e.g. the paper's ImageNet-100
    (registered in mmpretrain).

    Reads ImageNet's folder layout, ``<data_root>/<split>/<wnid>/*.JPEG``,
    but only the folders of the listed classes, so the full ImageNet-1K
    folders can be used as they are.  Labels follow the *sorted* wnids: the
    same labels that mmpretrain's ``CustomDataset`` gives a folder holding
    only those classes, so checkpoints trained either way agree.

    The flat validation layout that mmpretrain documents is read too: when
    none of the listed classes has a folder under ``<split>/`` and
    ``<data_root>/meta/<split>.txt`` exists (``ILSVRC2012_val_00000001.JPEG
    65`` per line, ImageNet-1K labels), the images of the listed classes
    are taken from that list.  The ImageNet-1K label of a wnid is its rank
    among the sorted wnids, read from ``meta/train.txt`` (the folder of each
    labelled path) or, without it, from the class folders of ``train/``.

    With ``ann_file`` the stock annotation format is read instead (``path
    label`` per line, labels already in the subset's sorted order).

    Args:
        classes (str | Sequence[str]): the wnids, or a text file with one
            per line (e.g. the IN-100 list,
            ``configs/_base_/datasets/imagenet100_classes.txt``).
        data_root (str): ImageNet's root.
        split (str): ``'train'`` or ``'val'``; the image folder under
            ``data_root`` unless ``data_prefix`` is given.
        data_prefix (str | dict): image folder. Defaults to ``split``.
        ann_file (str): optional annotation file (see above).
        **kwargs: other arguments of :class:`mmpretrain.datasets.
            CustomDataset`.

    Raises:
        FileNotFoundError: (when loading) a listed class has no folder.
    """
    IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')

    def __init__(self,
                 classes: Union[str, Sequence[str]],
                 data_root: str = '',
                 split: str = '',
                 data_prefix: Union[str, dict] = '',
                 ann_file: str = '',
                 **kwargs):
        if isinstance(classes, str):
            classes = [c.strip() for c in list_from_file(classes)
                       if c.strip()]
        wnids = sorted(set(classes))
        if len(wnids) != len(classes):
            raise ValueError('the class list repeats a class')
        if split and split not in ('train', 'val'):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if not data_prefix:
            data_prefix = split
        self.split = split
        kwargs.setdefault('extensions', self.IMG_EXTENSIONS)
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            ann_file=ann_file,
            metainfo=dict(classes=tuple(wnids)),
            **kwargs)

    def _find_samples(self):
        """``(path relative to the image folder, label)`` of every image in
        the listed classes (class folders, or the flat list)."""
        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        folders = [backend.join_path(self.img_prefix, w)
                   for w in self.CLASSES]
        flat_list = self._flat_list(backend)
        if flat_list and not any(backend.isdir(f) for f in folders):
            samples = self._flat_samples(backend, flat_list)
            if not samples:
                raise RuntimeError(f'{flat_list} lists no image of the '
                                   'listed classes')
            return samples
        samples, empty = [], []
        for label, (wnid, folder) in enumerate(zip(self.CLASSES, folders)):
            if not backend.isdir(folder):
                raise FileNotFoundError(
                    f'class {wnid} of the subset has no folder {folder}')
            files = sorted(
                f for f in backend.list_dir_or_file(
                    folder, list_dir=False, recursive=True)
                if self.is_valid_file(f))
            if not files:
                empty.append(wnid)
            samples += [(osp.join(wnid, f), label) for f in files]
        if not samples:
            raise RuntimeError(f'no image of the listed classes under '
                               f'{self.img_prefix}')
        if empty:
            MMLogger.get_current_instance().warning(
                f'no image in the folders of {len(empty)} listed classes: '
                f'{", ".join(empty[:10])}...')
        return samples

    def _flat_list(self, backend) -> str:
        """``<data_root>/meta/<split>.txt`` when it exists, else ''."""
        if not self.split:
            return ''
        path = backend.join_path(self.data_root, 'meta', f'{self.split}.txt')
        return path if backend.isfile(path) else ''

    def _in1k_wnids(self, backend) -> list:
        """ImageNet-1K's wnids in label order."""
        train_list = backend.join_path(self.data_root, 'meta', 'train.txt')
        if backend.isfile(train_list):
            by_label = {}
            for line in list_from_file(train_list):
                if line.strip():
                    path, label = line.strip().rsplit(' ', 1)
                    by_label.setdefault(int(label),
                                        path.replace('\\', '/').split('/')[0])
            return [by_label[i] for i in sorted(by_label)]
        train = backend.join_path(self.data_root, 'train')
        if not backend.isdir(train):
            raise FileNotFoundError(
                'reading the flat ImageNet layout needs the ImageNet-1K '
                f'class order: neither {train_list} nor the class folders '
                f'of {train} exist')
        return sorted(backend.list_dir_or_file(train, list_file=False))

    def _flat_samples(self, backend, flat_list: str) -> list:
        """Images of the listed classes from a flat folder's list, with
        labels remapped from ImageNet-1K's to the subset's order."""
        in1k = self._in1k_wnids(backend)
        ours = {w: i for i, w in enumerate(self.CLASSES)}
        samples = []
        for line in list_from_file(flat_list):
            if not line.strip():
                continue
            path, label = line.strip().rsplit(' ', 1)
            label = int(label)
            if label >= len(in1k):
                raise ValueError(f'{flat_list}: label {label} of {path} is '
                                 f'beyond the {len(in1k)} ImageNet classes')
            if in1k[label] in ours:
                samples.append((path, ours[in1k[label]]))
        return samples
