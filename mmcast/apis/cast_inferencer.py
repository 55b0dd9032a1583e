# Copyright (c) mmcast contributors. All rights reserved.
"""``CASTInferencer``: predictions and part-whole hierarchies of a CAST
model for images and folders, in the manner of mmseg's
``MMSegInferencer``."""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import TRANSFORMS

from mmcast.apis.inference import inference_hierarchy, init_model, load_image

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]


class CASTInferencer(BaseInferencer):
    """Run a CAST segmentor (mmseg) or classifier (mmpretrain) on images.

    For every image it returns, and on request saves, the model's
    prediction (a segmentation map, or class scores) and CAST's part-whole
    hierarchy (:func:`~mmcast.apis.inference_hierarchy`); it draws both
    (:func:`~mmcast.visualization.segmentation_panel` with a class legend,
    :func:`~mmcast.visualization.classification_panel`, and
    :class:`~mmcast.visualization.HierarchyVisualizer`).

    Inputs are image files, folders of images, or ``(H, W[, C])`` arrays
    (BGR, as OpenCV reads them); grayscale, RGBA and 16-bit images are
    accepted (:func:`~mmcast.apis.load_image`).  Predictions run in
    batches through the config's test pipeline (its loading and annotation
    steps replaced by :func:`~mmcast.apis.load_image`) and the model's
    ``test_step``; the images of a batch that have one size after the
    pipeline go through the model together.

    Example::

        >>> from mmcast.apis import CASTInferencer
        >>> inferencer = CASTInferencer('configs/cast_toy_scenes.py',
        ...                             'work_dirs/quickstart/iter_1200.pth')
        >>> out = inferencer('data/toy_scenes/images/validation',
        ...                  batch_size=4, out_dir='outputs')
        >>> out['predictions'][0]['sem_seg'].shape
        (128, 128)

    Args:
        model (str | Config): config file or object of a CAST model.
        weights (str, optional): checkpoint (read safely and checked
            against the model; random weights without, with a warning).
        device (str, optional): e.g. ``'cpu'`` (default) or ``'cuda:0'``.
        show_progress (bool): show a progress bar over the batches.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'num_clusters'}
    visualize_kwargs: set = {
        'show', 'wait_time', 'img_out_dir', 'return_vis', 'levels'
    }
    postprocess_kwargs: set = {'pred_out_dir'}

    def __init__(self,
                 model,
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 show_progress: bool = True) -> None:
        self.num_images = 0
        super().__init__(model=model, weights=weights, device=device or 'cpu',
                         scope=None, show_progress=show_progress)

    # ------------------------------------------------------------------
    # set-up
    def _init_model(self, cfg, weights, device):
        model = init_model(cfg, weights, device)
        self.scope = model.cfg.get('default_scope', 'mmseg')
        return model

    def _init_pipeline(self, cfg) -> Compose:
        """The config's test pipeline without its loading and annotation
        steps (images come from :func:`load_image`)."""
        cfg = self.model.cfg
        steps = cfg.get('test_pipeline') or \
            cfg.test_dataloader.dataset.pipeline
        keep = [
            dict(t) for t in steps
            if not str(t['type']).split('.')[-1].startswith('Load')
        ]
        with TRANSFORMS.switch_scope_and_registry(self.scope) as registry:
            return Compose([registry.build(t) for t in keep])

    def _init_collate(self, cfg):
        return pseudo_collate

    def _init_visualizer(self, cfg):
        from mmcast.visualization import HierarchyVisualizer
        return HierarchyVisualizer(name=f'cast_inferencer_{id(self)}')

    # ------------------------------------------------------------------
    # steps
    def _inputs_to_list(self, inputs: InputsType) -> list:
        if isinstance(inputs, str) and osp.isdir(inputs):
            names = sorted(
                n for n in os.listdir(inputs)
                if osp.splitext(n)[1].lower() in
                ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp'))
            if not names:
                raise FileNotFoundError(f'no images in the folder {inputs}')
            return [osp.join(inputs, n) for n in names]
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        for item in inputs:
            if isinstance(item, str) and not osp.isfile(item):
                raise FileNotFoundError(f'no image file at {item}')
        return list(inputs)

    def _load(self, item: InputType) -> dict:
        img = load_image(item)
        name = osp.splitext(osp.basename(item))[0] if isinstance(
            item, str) else f'image_{self.num_images:05d}'
        self.num_images += 1
        return dict(img=img, img_path=item if isinstance(item, str) else
                    None, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                    name=name)

    def preprocess(self, inputs: list, batch_size: int = 1, **kwargs):
        """Yield ``(images, batch)``: the loaded images of a chunk and the
        collated output of the test pipeline."""
        for chunk in self._get_chunk_data(map(self._load, inputs),
                                          batch_size):
            batch = self.collate_fn([self.pipeline(dict(r)) for r in chunk])
            yield chunk, batch

    @torch.no_grad()
    def forward(self, data, num_clusters: Optional[Sequence[int]] = None):
        """The model's predictions and the hierarchies of a batch (images
        of one size after the pipeline share a forward pass: mmseg's
        preprocessor stacks test images without padding)."""
        images, batch = data
        groups = {}
        for i, x in enumerate(batch['inputs']):
            groups.setdefault(tuple(x.shape), []).append(i)
        samples = [None] * len(images)
        for idx in groups.values():
            out = self.model.test_step(
                dict(inputs=[batch['inputs'][i] for i in idx],
                     data_samples=[batch['data_samples'][i] for i in idx]))
            for i, sample in zip(idx, out):
                samples[i] = sample
        return [
            dict(name=img['name'], image=img['img'], sample=sample,
                 hierarchy=inference_hierarchy(self.model, img['img'],
                                               num_clusters=num_clusters))
            for img, sample in zip(images, samples)
        ]

    def _prediction(self, pred: dict) -> dict:
        """A plain dict of one prediction."""
        meta = getattr(self.model, 'dataset_meta', None) or {}
        classes = meta.get('classes')
        out = dict(name=pred['name'], hierarchy=pred['hierarchy'])
        sample = pred['sample']
        if hasattr(sample, 'pred_score'):  # mmpretrain's DataSample
            scores = sample.pred_score.float().cpu().numpy()
            label = int(sample.pred_label.item())
            out.update(pred_score=scores, pred_label=label,
                       pred_class=None if classes is None else
                       classes[label])
        else:
            out['sem_seg'] = sample.pred_sem_seg.data[0].cpu().numpy()
        return out

    def visualize(self,
                  inputs: list,
                  preds: List[dict],
                  show: bool = False,
                  wait_time: float = 0,
                  img_out_dir: str = '',
                  return_vis: bool = False,
                  levels: Optional[Sequence[int]] = None) -> Optional[list]:
        """Draw the prediction and the hierarchy of every image; show them
        (``show``) and write ``{name}_pred.png`` and
        ``{name}_hierarchy.png`` under ``img_out_dir``."""
        if not show and not img_out_dir and not return_vis:
            return None
        from mmcast.visualization import (classification_panel,
                                          segmentation_panel)
        meta = getattr(self.model, 'dataset_meta', None) or {}
        classes = meta.get('classes')
        drawn = []
        for pred in preds:
            rgb = np.ascontiguousarray(pred['image'][..., ::-1])
            plain = self._prediction(pred)
            if 'sem_seg' in plain:
                head = getattr(self.model, 'decode_head', None)
                names = classes or [f'class {i}' for i in range(
                    getattr(head, 'num_classes', 0) or
                    int(plain['sem_seg'].max()) + 1)]
                palette = meta.get('palette') or _palette(len(names))
                picture = segmentation_panel(rgb, plain['sem_seg'], names,
                                             palette)
            else:
                picture = classification_panel(rgb, plain['pred_score'],
                                               classes)
            panel = self.visualizer.draw_panel(rgb, pred['hierarchy'],
                                               levels=levels)
            if show:
                self.visualizer.show(picture, win_name=pred['name'],
                                     wait_time=wait_time)
                self.visualizer.show(panel, win_name=pred['name'] +
                                     ' hierarchy', wait_time=wait_time)
            if img_out_dir:
                os.makedirs(img_out_dir, exist_ok=True)
                for suffix, image in (('pred', picture),
                                      ('hierarchy', panel)):
                    path = osp.join(img_out_dir,
                                    f"{pred['name']}_{suffix}.png")
                    if not cv2.imwrite(path, image[..., ::-1]):
                        raise OSError(f'could not write {path}')
            drawn.append(dict(prediction=picture, hierarchy=panel))
        return drawn

    def postprocess(self,
                    preds: List[dict],
                    visualization: Optional[list] = None,
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> dict:
        """Pack the predictions; with ``pred_out_dir`` write, per image,
        ``{name}.json`` (classes, scores, segment counts), the label map
        ``{name}_sem_seg.png`` (segmentors) and ``{name}_level_{l}.png``
        (uint16, every hierarchy level at the image's resolution)."""
        results = []
        for pred in preds:
            plain = pred['sample'] if return_datasample else \
                self._prediction(pred)
            if return_datasample:
                plain.set_field(pred['hierarchy'], 'hierarchy',
                                field_type='metainfo')
            results.append(plain)
            if pred_out_dir:
                self._save(self._prediction(pred), pred_out_dir)
        return dict(predictions=results, visualization=visualization)

    @staticmethod
    def _save(plain: dict, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        name, hierarchy = plain['name'], plain['hierarchy']
        summary = dict(
            num_clusters=list(hierarchy.num_clusters),
            segments_per_level=[
                int(len(np.unique(lv))) for lv in hierarchy.levels
            ])
        if 'sem_seg' in plain:
            cv2.imwrite(osp.join(out_dir, f'{name}_sem_seg.png'),
                        plain['sem_seg'].astype(np.uint16))
        else:
            summary.update(pred_label=plain['pred_label'],
                           pred_class=plain['pred_class'],
                           pred_score=plain['pred_score'].tolist())
        for i, level in enumerate(hierarchy.levels):
            cv2.imwrite(osp.join(out_dir, f'{name}_level_{i}.png'),
                        level.astype(np.uint16))
        with open(osp.join(out_dir, f'{name}.json'), 'w') as f:
            json.dump(summary, f)

    def __call__(self,
                 inputs: InputsType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 return_vis: bool = False,
                 show: bool = False,
                 wait_time: float = 0,
                 out_dir: str = '',
                 num_clusters: Optional[Sequence[int]] = None,
                 levels: Optional[Sequence[int]] = None) -> dict:
        """Predict, draw and save.

        Args:
            inputs (str | np.ndarray | list): an image file, a folder of
                images, a BGR array, or a list of files/arrays.
            return_datasamples (bool): return the model's data samples (the
                hierarchy in their metainfo) instead of plain dicts.
            batch_size (int): images per forward pass of the model.
            return_vis (bool): return the pictures.
            show (bool): show the pictures in a window.
            wait_time (float): seconds each window stays (0: until a key).
            out_dir (str): write the pictures under ``out_dir/vis`` and the
                predictions under ``out_dir/pred``.
            num_clusters (Sequence[int], optional): clusters per stage of
                the hierarchy (the config's by default).
            levels (Sequence[int], optional): hierarchy levels to draw.

        Returns:
            dict: ``predictions`` (per image: ``name``, ``hierarchy`` (a
            :class:`~mmcast.apis.HierarchyResult`), and ``sem_seg`` ``(H,
            W)`` or ``pred_label``/``pred_score``/``pred_class``) and
            ``visualization`` (per image: ``prediction`` and ``hierarchy``
            RGB pictures, or None when nothing was drawn).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        return super().__call__(
            inputs,
            return_datasamples=return_datasamples,
            batch_size=batch_size,
            return_vis=return_vis,
            show=show,
            wait_time=wait_time,
            img_out_dir=osp.join(out_dir, 'vis') if out_dir else '',
            pred_out_dir=osp.join(out_dir, 'pred') if out_dir else '',
            num_clusters=num_clusters,
            levels=levels)


def _palette(num_classes: int) -> np.ndarray:
    """Distinct colours for configs without a palette (fixed seed)."""
    rng = np.random.default_rng(42)
    return rng.integers(0, 256, (num_classes, 3), dtype=np.uint8)
