# Copyright (c) mmcast contributors. All rights reserved.
"""Read the CAST release's checkpoints and map them to mmcast's names.

Release formats (github twke18/CAST):

* MoCo v3: ``{'state_dict': {'module.base_encoder.*', 'module.momentum_
  encoder.*', 'module.predictor.*'}}``;
* DeiT: ``{'model': {...}}``;
* Segmenter: ``{'model': {'encoder.*', 'decoder.*'}}``.

The encoder holds each stage's blocks twice (``blocks.N`` from timm's
``VisionTransformer`` and ``blocksK.M`` from the per-stage split, one
tensor).  The fixed sin-cos table (``pos_embed`` with ``pe_token`` in the
MoCo files) is rebuilt by the backbone and dropped.
"""
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

# Release name (after the encoder prefix) -> mmcast name.
_RULES = [
    (r'^blocks(\d+)\.(\d+)\.norm1\.', r'stages.{s}.blocks.\2.ln1.'),
    (r'^blocks(\d+)\.(\d+)\.norm2\.', r'stages.{s}.blocks.\2.ln2.'),
    (r'^blocks(\d+)\.(\d+)\.attn\.', r'stages.{s}.blocks.\2.attn.'),
    (r'^blocks(\d+)\.(\d+)\.mlp\.fc1\.', r'stages.{s}.blocks.\2.ffn.layers.0.0.'),
    (r'^blocks(\d+)\.(\d+)\.mlp\.fc2\.', r'stages.{s}.blocks.\2.ffn.layers.1.'),
    (r'^pool(\d+)\.pool_block\.centroid_fc\.norm\.', r'stages.{s}.pool.refine.ln.'),
    (r'^pool(\d+)\.pool_block\.centroid_fc\.attn\.', r'stages.{s}.pool.refine.attn.'),
    (r'^pool(\d+)\.pool_block\.centroid_fc\.bias$', r'stages.{s}.pool.refine.bias'),
    (r'^pool(\d+)\.pool_block\.(fc[12])\.', r'stages.{s}.pool.\2.'),
    (r'^block_fusion\.proj_blocks\.0\.norm\.', r'fusion.norm.'),
    (r'^block_fusion\.proj_blocks\.2\.', r'fusion.proj.'),
    (r'^cls_token$', r'cls_token'),
    (r'^norm\.', r'norm.'),
]
_STEM = re.compile(r'^patch_embed\.proj\.(\d+)\.(.*)$')
# Things that are part of the release's encoder module but not of the
# backbone: classification / per-token heads (kept apart), frozen tables.
_HEAD = re.compile(r'^head\.(weight|bias)$')


def _strip_format(ckpt: dict) -> Tuple[str, Dict[str, torch.Tensor]]:
    """Find the encoder's state dict and the format it came in."""
    if 'state_dict' in ckpt and any(
            k.startswith('module.base_encoder.') for k in ckpt['state_dict']):
        prefix = 'module.base_encoder.'
        fmt, sd = 'moco', ckpt['state_dict']
    elif 'model' in ckpt and any(
            k.startswith('encoder.') for k in ckpt['model']):
        prefix = 'encoder.'
        fmt, sd = 'segmenter', ckpt['model']
    elif 'model' in ckpt:
        prefix = ''
        fmt, sd = 'deit', ckpt['model']
    else:
        raise ValueError(
            'not a CAST release checkpoint: expected a MoCo v3 file '
            "('state_dict' with 'module.base_encoder.*'), a DeiT file "
            "('model') or a Segmenter file ('model' with 'encoder.*'); "
            f'found top-level keys {sorted(ckpt)[:8]}')
    enc = OrderedDict((k[len(prefix):], v) for k, v in sd.items()
                      if k.startswith(prefix))
    return fmt, enc


def _stem_key(index: int, rest: str) -> str:
    # Release: Sequential of [conv, bn, relu] x 4 + 1x1 conv.
    layer, kind = divmod(index, 3)
    if layer == 4:
        return f'stem.4.{rest}'
    return f'stem.{layer}.{"conv" if kind == 0 else "bn"}.{rest}'


def convert_release_state_dict(ckpt: dict) -> Tuple[OrderedDict, dict]:
    """Map a release checkpoint to mmcast's backbone state dict.

    Args:
        ckpt (dict): the loaded release file.

    Returns:
        tuple[OrderedDict, dict]: the backbone state dict, and ``meta``:
        ``format``, ``pos_embed`` (``'sincos'`` or ``'learned'``),
        ``with_fusion``, ``final_norm``, ``embed_dims``, ``depths``,
        ``img_size``, and ``head`` (the release's linear head on the class
        token or on each token, ``{'weight', 'bias'}``) when present.
    """
    fmt, enc = _strip_format(ckpt)
    out, head, unknown = OrderedDict(), {}, []
    fixed_table = 'pe_token' in enc
    # blocksK.M: M counts globally in the DeiT/MoCo classification files
    # (a slice of timm's blocks) and from 0 in cast_seg.py's; renumber
    # each stage's blocks from 0.
    split = {}
    for k in enc:
        m = re.match(r'^blocks(\d+)\.(\d+)\.', k)
        if m:
            split.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    local = {(s, b): i for s, ids in split.items()
             for i, b in enumerate(sorted(ids))}
    split_blocks = bool(split)
    for key, value in enc.items():
        m = _STEM.match(key)
        if m:
            out[_stem_key(int(m.group(1)), m.group(2))] = value
            continue
        if _HEAD.match(key):
            head[key.split('.')[-1]] = value
            continue
        if key in ('pos_embed', 'pe_token'):
            if key == 'pos_embed' and not fixed_table:
                out['pos_embed'] = value
            continue
        if key.startswith('blocks.') and split_blocks:
            continue  # duplicate of blocksK.M
        m = re.match(r'^blocks(\d+)\.(\d+)\.', key)
        if m:
            key = 'blocks{}.{}.'.format(
                m.group(1), local[int(m.group(1)), int(m.group(2))]
            ) + key[m.end():]
        for pattern, repl in _RULES:
            m = re.match(pattern, key)
            if m:
                stage = int(m.group(1)) - 1 if m.groups() and \
                    pattern.startswith(('^blocks', '^pool')) else None
                new = re.sub(pattern, repl.replace('{s}', str(stage)), key)
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(
            f'not a CAST encoder: {len(unknown)} of its {len(enc)} {fmt} '
            f'keys are no CAST weights (e.g. {", ".join(unknown[:3])})')
    depths = []
    for s in range(16):
        ids = {int(k.split('.')[3]) for k in out
               if k.startswith(f'stages.{s}.blocks.')}
        if not ids:
            break
        depths.append(max(ids) + 1)
    embed_dims = out['cls_token'].shape[-1]
    meta = dict(
        format=fmt,
        pos_embed='sincos' if fixed_table else 'learned',
        with_fusion=any(k.startswith('fusion.') for k in out),
        final_norm='norm.weight' in out,
        embed_dims=int(embed_dims),
        depths=depths)
    if 'pos_embed' in out:
        grid = out['pos_embed'].shape[1] - 1
        side = int(round(grid**0.5))
        meta['img_size'] = side * 8
    elif fixed_table:
        side = int(round(enc['pos_embed'].shape[1]**0.5))
        meta['img_size'] = side * 8
    if head:
        meta['head'] = head
    return out, meta


def release_backbone_cfg(meta: dict, num_heads: int,
                         num_clusters, model_stage: str = None) -> dict:
    """Backbone config reproducing a release model.

    Args:
        meta (dict): from :func:`convert_release_state_dict`.
        num_heads (int): the release's ``num_heads``.
        num_clusters (Sequence[int]): the release's ``num_clusters``.
        model_stage (str, optional): ``cast_seg.py``'s ``model_stage``;
            ``'pretrain'`` averages on the stem grid.

    Returns:
        dict: a ``type='CAST'`` config.
    """
    segmentation = meta['with_fusion'] and model_stage != 'pretrain'
    return dict(
        type='CAST',
        arch=dict(
            embed_dims=meta['embed_dims'],
            depths=list(meta['depths']),
            num_heads=num_heads),
        img_size=meta.get('img_size', 224),
        num_clusters=list(num_clusters),
        pos_embed=meta['pos_embed'],
        token_pooling='full' if segmentation else 'stem',
        with_fusion=meta['with_fusion'],
        final_norm=meta['final_norm'],
        freeze_last_pool=not meta['with_fusion'])
