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


# Release decoder name (after ``decoder.``) -> name in mmseg's
# ``SegmenterMaskTransformerHead`` (``decode_head.mask_decoder.``).
_DECODER_RULES = [
    (r'^proj_dec\.', 'dec_proj.'),
    (r'^cls_emb$', 'cls_emb'),
    (r'^decoder_norm\.', 'decoder_norm.'),
    (r'^mask_norm\.', 'mask_norm.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.qkv\.weight$', r'layers.\1.attn.attn.in_proj_weight'),
    (r'^blocks\.(\d+)\.attn\.qkv\.bias$', r'layers.\1.attn.attn.in_proj_bias'),
    (r'^blocks\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
]
# Matrices the release multiplies from the right (``x @ P``); mmseg's
# bias-free linear layers compute ``x @ W.T``.
_DECODER_TRANSPOSED = {'proj_patch': 'patch_proj.weight',
                       'proj_classes': 'classes_proj.weight'}

#: ImageNet statistics: the release's ``deit`` normalisation.
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


def convert_release_decoder(ckpt: dict) -> Tuple[OrderedDict, dict]:
    """Map the mask-transformer decoder of a release Segmenter file.

    The release's ``SuperpixMaskTransformer`` computes what mmseg's
    ``SegmenterMaskTransformerHead`` computes (pre-norm blocks with
    LayerNorm eps 1e-5, GELU MLP, cosine scores of the superpixel tokens
    against the class embeddings, LayerNorm over the classes), so its
    weights map one to one; its two projection matrices are transposed.

    Args:
        ckpt (dict): the loaded Segmenter file (``{'model': {'encoder.*',
            'decoder.*'}}``).

    Returns:
        tuple[OrderedDict, dict]: the state dict of the decoder under
        mmseg's names (no prefix) and its settings read from the weights:
        ``num_classes``, ``num_layers``, ``embed_dims`` (d_model),
        ``in_channels`` (d_encoder), ``mlp_ratio``.

    Raises:
        KeyError: the file holds no decoder, or one that is not the mask
            transformer.
    """
    model = ckpt.get('model', {}) if isinstance(ckpt, dict) else {}
    dec = OrderedDict((k[len('decoder.'):], v) for k, v in model.items()
                      if k.startswith('decoder.'))
    if not dec:
        raise KeyError('no decoder.* weights: not a release Segmenter '
                       "file ({'model': {'encoder.*', 'decoder.*'}})")
    if 'cls_emb' not in dec:
        raise KeyError('the release decoder is not the mask transformer '
                       '(no decoder.cls_emb); only that decoder classifies '
                       f'superpixels. Keys: {sorted(dec)[:6]}')
    out = OrderedDict()
    for key, value in dec.items():
        if key in _DECODER_TRANSPOSED:
            out[_DECODER_TRANSPOSED[key]] = value.t().contiguous()
            continue
        for pattern, repl in _DECODER_RULES:
            if re.match(pattern, key):
                out[re.sub(pattern, repl, key)] = value
                break
        else:
            raise KeyError(f'unexpected key in the release decoder: '
                           f'decoder.{key}')
    d_model, d_encoder = dec['proj_dec.weight'].shape
    d_ff = dec['blocks.0.mlp.fc1.weight'].shape[0]
    if d_ff % d_model:
        raise ValueError(f'decoder MLP width {d_ff} is not a multiple of '
                         f'its width {d_model}')
    layers = {int(k.split('.')[1]) for k in dec if k.startswith('blocks.')}
    settings = dict(
        num_classes=int(dec['cls_emb'].shape[1]),
        num_layers=max(layers) + 1,
        embed_dims=int(d_model),
        in_channels=int(d_encoder),
        mlp_ratio=d_ff // d_model)
    return out, settings


def convert_release_segmentor(ckpt: dict, num_heads: int,
                              num_clusters) -> Tuple[OrderedDict, dict]:
    """A released CAST Segmenter as an mmseg segmentor.

    Encoder (``encoder.*``, ``cast_seg_deit.py``) and decoder
    (``decoder.*``, ``SuperpixMaskTransformer``) become the CAST backbone
    with fusion and a :class:`HypercolumnUnpoolHead` with the mask
    transformer, in a stock ``EncoderDecoder``:
    ``MODELS.build(model_cfg).load_state_dict(state_dict, strict=True)``
    is the release's model.

    Args:
        ckpt (dict): the loaded Segmenter file.
        num_heads (int): the encoder's attention heads (not stored in the
            weights; 12 for every released CAST).
        num_clusters (Sequence[int]): the encoder's clusters per stage
            (320, 160, 80, 40 for the released segmentors).

    Returns:
        tuple[OrderedDict, dict]: the whole-model state dict
        (``backbone.*``, ``decode_head.*``) and the model config.  The
        decoder's heads follow the release (``d_model // 64``); its width,
        depth, MLP ratio and class count are read from the weights.
    """
    backbone_sd, meta = convert_release_state_dict(ckpt)
    if meta['format'] != 'segmenter':
        raise ValueError(f"a release Segmenter file is needed ({{'model': "
                         f"{{'encoder.*', 'decoder.*'}}}}), got the "
                         f"{meta['format']} format")
    decoder_sd, dec = convert_release_decoder(ckpt)
    if dec['in_channels'] != meta['embed_dims']:
        raise ValueError(f"decoder input width {dec['in_channels']} differs "
                         f"from the encoder's {meta['embed_dims']}")
    state_dict = OrderedDict(
        [('backbone.' + k, v) for k, v in backbone_sd.items()] +
        [('decode_head.mask_decoder.' + k, v)
         for k, v in decoder_sd.items()])
    backbone = release_backbone_cfg(meta, num_heads, num_clusters)
    backbone['out_type'] = 'raw'
    model_cfg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='CASTSegDataPreProcessor',
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            bgr_to_rgb=True,
            pad_val=0,
            seg_pad_val=255),
        backbone=backbone,
        decode_head=dict(
            type='HypercolumnUnpoolHead',
            in_channels=dec['in_channels'],
            num_classes=dec['num_classes'],
            decoder='mask_transformer',
            num_layers=dec['num_layers'],
            num_heads=max(1, dec['embed_dims'] // 64),
            embed_dims=dec['embed_dims'],
            mlp_ratio=dec['mlp_ratio'],
            drop_rate=0.1,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))
    return state_dict, model_cfg
