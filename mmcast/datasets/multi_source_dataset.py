# Copyright (c) mmcast contributors. All rights reserved.
"""Several segmentation and classification sources in one vocabulary
(LarvSeg's joint training)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import ConcatDataset
from mmengine.fileio import list_from_file
from mmseg.registry import DATASETS

from mmcast.registry import register_seg_dataset

#: What a missing source root should hold, by dataset type.
LAYOUTS = {
    'COCOStuffDataset':
    "mmseg's COCO-Stuff 164k layout: images/train2017/*.jpg and "
    'annotations/train2017/*_labelTrainIds.png',
    'ADE20KDataset':
    "mmseg's ADE20K layout (ADEChallengeData2016): images/training/*.jpg "
    'and annotations/training/*.png',
    'ImageLabelFolderDataset':
    'ImageNet-21k class folders fall11_whole/<wnid>/*.JPEG and a class '
    'file "<wnid> <class name>"',
}


def _source_error(name: str, cfg: dict, what: str) -> FileNotFoundError:
    layout = LAYOUTS.get(str(cfg.get('type')), 'the layout of its dataset')
    return FileNotFoundError(
        f"LarvSeg source '{name}': {what} (expected {layout}; see "
        'docs/larvseg.md)')


def check_source_root(name: str, cfg: dict):
    """Raise a one-line error when a source's data root or image folder is
    absent."""
    root = cfg.get('data_root')
    if not root:
        return
    if not osp.isdir(root):
        raise _source_error(name, cfg, f'data root {root} not found')
    img_dir = (cfg.get('data_prefix') or {}).get('img_path')
    if img_dir and not osp.isdir(osp.join(root, img_dir)):
        raise _source_error(
            name, cfg, f'image folder {osp.join(root, img_dir)} not found')


@register_seg_dataset
class MultiSourceSegDataset(ConcatDataset):
    """Segmentation sources (masks) and classification sources (image-level
    labels) concatenated, with every source's classes mapped into one
    union vocabulary.

    Each source is a dataset with its own classes (``metainfo['classes']``,
    its label ids in order) and pipeline.  A classification source yields
    ``gt_image_labels`` (from :class:`~mmcast.datasets.
    ImageLabelFolderDataset`, or from a mask by
    :class:`~mmcast.datasets.transforms.MaskToImageLabels`).  A sample's
    mask and image-level labels are mapped to union ids, and its metainfo
    gets ``source`` (the source's name) and ``source_classes`` (the union
    ids of its classes, the vocabulary of its softmax in
    :class:`~mmcast.models.LarvSegHead`).

    Args:
        sources (list[dict]): per source ``name`` (str), ``dataset`` (a
            dataset config or instance) and optionally ``class_map`` (dict:
            source class name -> union class name; several source classes
            may map to one union class).
        classes (Sequence[str] | str, optional): the union vocabulary (or a
            text file with one class per line).  By default the distinct
            (mapped) class names of the sources in order: list the
            evaluation dataset's source first so that its classes come
            first.
        palette (list, optional): one colour per union class.
        pipeline (list[dict]): transforms run after every source's own
            pipeline (what all sources share: superpixels for CAST, the
            packing). Defaults to
            ``[dict(type='PackSegInputsWithImageLabels')]``.
        lazy_init (bool): as :class:`mmengine.dataset.ConcatDataset`.

    Raises:
        FileNotFoundError: one line, when a source's data root is absent.
    """

    def __init__(self,
                 sources: Sequence[dict],
                 classes: Union[Sequence[str], str, None] = None,
                 palette: Optional[list] = None,
                 pipeline: Sequence[dict] = (dict(
                     type='PackSegInputsWithImageLabels'), ),
                 lazy_init: bool = False):
        if not sources:
            raise ValueError('MultiSourceSegDataset needs at least one '
                             'source')
        names, datasets, class_maps = [], [], []
        for i, src in enumerate(sources):
            src = dict(src)
            unknown = set(src) - {'name', 'dataset', 'class_map'}
            if unknown or 'dataset' not in src:
                raise ValueError(f'source {i}: expected keys name, dataset, '
                                 f'class_map; got {sorted(src)}')
            name = src.get('name', f'source{i}')
            if name in names:
                raise ValueError(f'two sources are named {name!r}')
            dataset = src['dataset']
            if isinstance(dataset, dict):
                cfg = dict(dataset)
                check_source_root(name, cfg)
                cfg['pipeline'] = list(cfg.get('pipeline', [])) + \
                    list(pipeline)
                dataset = DATASETS.build(cfg)
            names.append(name)
            datasets.append(dataset)
            class_maps.append(dict(src.get('class_map') or {}))

        self.source_names = names
        # Union names of each source's classes.
        mapped = []
        for name, ds, cmap in zip(names, datasets, class_maps):
            own = list(ds.metainfo.get('classes') or ())
            if not own:
                raise ValueError(f"source '{name}' has no classes in its "
                                 'metainfo')
            unknown = set(cmap) - set(own)
            if unknown:
                raise ValueError(f"source '{name}': class_map names classes "
                                 f'it does not have: {sorted(unknown)[:5]}')
            mapped.append([cmap.get(c, c) for c in own])
        if classes is None:
            union = list(dict.fromkeys(c for m in mapped for c in m))
        else:
            union = [c.strip() for c in list_from_file(classes)] \
                if isinstance(classes, str) else list(classes)
            if len(set(union)) != len(union):
                raise ValueError('the union vocabulary repeats a class')
            for name, m in zip(names, mapped):
                missing = [c for c in m if c not in union]
                if missing:
                    raise ValueError(
                        f"source '{name}': classes not in the union "
                        f'vocabulary: {missing[:5]} (add them to classes '
                        'or map them with class_map)')
        index = {c: i for i, c in enumerate(union)}
        #: Per source: union id of each of its label ids.
        self.label_maps: List[np.ndarray] = [
            np.array([index[c] for c in m], np.int64) for m in mapped
        ]
        meta_keys = set()
        for ds in datasets:
            meta_keys |= set(ds.metainfo)
        super().__init__(datasets, lazy_init=lazy_init,
                         ignore_keys=sorted(meta_keys))
        self._metainfo = dict(classes=tuple(union), sources=tuple(names))
        if palette is not None:
            self._metainfo['palette'] = palette
        self.ignore_index = 255

    @property
    def union_classes(self) -> tuple:
        return self._metainfo['classes']

    def source_classes(self, source: int) -> List[int]:
        """Union ids of a source's classes (sorted, distinct)."""
        return sorted(set(self.label_maps[source].tolist()))

    def to_union(self, source: int, labels: torch.Tensor,
                 ignore_index: int = 255) -> torch.Tensor:
        """Map a source's label ids to union ids (``ignore_index`` and ids
        outside the source's classes become ``ignore_index``)."""
        lut = torch.from_numpy(self.label_maps[source])
        labels = labels.long()
        known = (labels >= 0) & (labels < len(lut))
        out = torch.full_like(labels, ignore_index)
        out[known] = lut[labels[known]]
        return out

    def __getitem__(self, idx: int) -> dict:
        source, local = self._get_ori_dataset_idx(idx)
        data = self.datasets[source][local]
        sample = data['data_samples']
        if 'gt_sem_seg' in sample:
            sample.gt_sem_seg.data = self.to_union(source,
                                                   sample.gt_sem_seg.data,
                                                   self.ignore_index)
        if 'gt_image_labels' in sample:
            labels = sample.gt_image_labels
            if ((labels < 0) | (labels >= len(self.label_maps[source]))).any():
                raise ValueError(
                    f"source '{self.source_names[source]}': image label out "
                    f'of its {len(self.label_maps[source])} classes')
            sample.gt_image_labels = torch.unique(
                self.to_union(source, labels))
        sample.set_metainfo(
            dict(source=self.source_names[source],
                 source_classes=self.source_classes(source)))
        return data

    def source_sizes(self) -> List[int]:
        """Number of samples of each source."""
        self.full_init()
        return [len(d) for d in self.datasets]

    def summary(self) -> Dict[str, int]:
        return dict(zip(self.source_names, self.source_sizes()))
