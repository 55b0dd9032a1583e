# Copyright (c) mmcast contributors. All rights reserved.
"""A stock Vision Transformer on CAST's data flow (CAST Table 3a's patch
rows)."""
import re
from typing import Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor

from mmcast.registry import SEG_MODELS, register_model


@register_model
class PatchTokenViT(BaseModule):
    """A stock ViT, optionally followed by
    :class:`~mmcast.models.necks.GraphPoolNeck`, as one backbone (registered
    in mmseg and mmpretrain).

    It takes what CAST takes (``(B, 4, H, W)`` with the superpixel map as the
    last channel, or ``(B, 3, H, W)``) and ignores the superpixels: the
    tokens are the ViT's patches.  So a CAST config's data pipeline,
    preprocessor, MoCo v3 algorithm, heads and hierarchy models run on a
    stock ViT by swapping the backbone only:

    - ``neck=None``: the ViT alone (Table 3a's "ViT-S" row); the output is
      the ViT's (its ``out_type``), the hierarchy comes from
      :class:`~mmcast.models.segmentors.ViTKMeansHierarchy`;
    - with a ``GraphPoolNeck`` (Table 3a's "patch + pooling" row): CAST's
      outputs (``out_type`` of the neck: ``'raw'``, ``'cls_token'``,
      ``'featmap'``); :class:`~mmcast.models.segmentors.HierarchySegmentor`,
      :func:`~mmcast.apis.inference_hierarchy` and
      :class:`~mmcast.models.decode_heads.HypercolumnUnpoolHead` take it as
      they take CAST.  The ViT must then hand on its class token and stop
      before its final norm: mmpretrain's ``VisionTransformer`` /
      ``MoCoV3ViT`` with ``out_type='raw', final_norm=False``, or mmseg's
      with ``output_cls_token=True, final_norm=False``.

    Args:
        vit (dict): the ViT config, with its scope (e.g.
            ``'mmpretrain.VisionTransformer'``, ``'mmpretrain.MoCoV3ViT'``,
            ``'mmseg.VisionTransformer'``).
        neck (dict, optional): a ``GraphPoolNeck`` config; its
            ``embed_dims`` and ``patch_size`` default to the ViT's.
        out_type (str, optional): sets the output kind of the neck (or of
            the ViT without a neck, e.g. ``'featmap'`` for a decode head),
            so that one ViT config serves every task.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 vit: dict,
                 neck: Optional[dict] = None,
                 out_type: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.vit = SEG_MODELS.build(vit)
        embed = getattr(getattr(self.vit, 'patch_embed', None), 'projection',
                        None)
        if embed is None:
            raise TypeError('PatchTokenViT needs a VisionTransformer (a '
                            'patch_embed with a projection), got '
                            f'{type(self.vit).__name__}')
        self.neck = None
        if neck is not None:
            keeps_cls = getattr(self.vit, 'out_type', None) == 'raw' or \
                getattr(self.vit, 'output_cls_token', False)
            if not keeps_cls or getattr(self.vit, 'final_norm', False):
                raise ValueError(
                    'a GraphPoolNeck needs the ViT\'s class token and tokens '
                    "before its final norm: set out_type='raw' (mmpretrain) "
                    'or output_cls_token=True (mmseg), and final_norm=False')
            neck = dict(neck)
            neck.setdefault('embed_dims', embed.out_channels)
            neck.setdefault('patch_size', embed.stride[0])
            self.neck = SEG_MODELS.build(neck)
        if out_type is not None:
            self.out_type = out_type

    def _with_neck(self, what: str):
        # An AttributeError keeps hasattr() meaningful: a plain ViT is not a
        # CAST-like backbone.
        if self.neck is None:
            raise AttributeError(f'{what}: this PatchTokenViT has no neck '
                                 '(a plain ViT has no stages nor pooling)')
        return self.neck

    @property
    def _head_module(self):
        """What produces the output: the neck, else the ViT."""
        return self.vit if self.neck is None else self.neck

    @property
    def out_type(self) -> str:
        """The output kind (the neck's, else the ViT's); settable."""
        return self._head_module.out_type

    @out_type.setter
    def out_type(self, value: str):
        self._head_module.out_type = value

    @property
    def num_clusters(self) -> list:
        """Clusters per stage of the neck."""
        return self._with_neck('num_clusters').num_clusters

    @property
    def num_stages(self) -> int:
        """Stages of the neck."""
        return self._with_neck('num_stages').num_stages

    @property
    def embed_dims(self) -> int:
        return self.vit.embed_dims

    def forward(self,
                x: Tensor,
                superpixels: Optional[Tensor] = None,
                num_clusters: Optional[Sequence[int]] = None):
        """Run the ViT (and the neck) on the image channels.

        Args:
            x (Tensor): ``(B, 3, H, W)`` images or ``(B, 4, H, W)`` with the
                superpixels last (ignored).
            superpixels (Tensor, optional): ignored.
            num_clusters (Sequence[int], optional): the neck's clusters for
                this call.

        Returns:
            The neck's output, or the ViT's without a neck.
        """
        img = x[:, :3]
        feats = self.vit(img)
        if self.neck is None:
            return feats
        return self.neck(feats, img_shape=tuple(img.shape[-2:]),
                         num_clusters=num_clusters)


def cast_state_dict(state_dict: dict, vit_layers: int) -> dict:
    """The weights of a ``PatchTokenViT`` (mmpretrain ViT + GraphPoolNeck)
    under the names of a ``CAST(stem='patch', pos_embed='learned')``.

    On a superpixel map that is the ViT's patch grid (patches numbered
    row-major) and with ``token_pooling='stem'``, that CAST computes the
    same function: its stem is the patch projection, its position table
    the ViT's, the ViT's layers are the first blocks of its first stage.

    Args:
        state_dict (dict): ``PatchTokenViT.state_dict()`` (keys ``vit.*``
            and ``neck.*``).
        vit_layers (int): the ViT's ``num_layers``; the neck's first-stage
            blocks follow them.

    Returns:
        dict: the CAST state dict (depths ``(vit_layers + d0, d1, ...)``).
    """
    rules = [
        (r'^vit\.patch_embed\.projection\.', 'stem.'),
        (r'^vit\.(cls_token|pos_embed)$', r'\1'),
        (r'^vit\.layers\.(\d+)\.', lambda m: f'stages.0.blocks.{m[1]}.'),
        (r'^neck\.stages\.0\.blocks\.(\d+)\.',
         lambda m: f'stages.0.blocks.{int(m[1]) + vit_layers}.'),
        (r'^neck\.', ''),
    ]
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in rules:
            new, hit = re.subn(pattern, repl, key)
            if hit:
                out[new] = value
                break
        else:
            raise KeyError(f'{key} has no CAST counterpart (a final norm of '
                           'the ViT? build it with final_norm=False)')
    return out
