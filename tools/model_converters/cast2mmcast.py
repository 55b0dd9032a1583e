# Copyright (c) mmcast contributors. All rights reserved.
"""Convert a CAST release checkpoint (MoCo v3, DeiT or Segmenter file) for
mmcast.

    python tools/model_converters/cast2mmcast.py SRC DST
        [--prefix backbone.] [--head-prefix head.fc.]
        [--config BASE] [--num-heads 12] [--num-clusters 320 160 80 40]
        [--backbone-only]

A Segmenter file (the released ADE20K / Pascal-Context models: encoder and
mask-transformer decoder) becomes a whole segmentor: DST holds
``backbone.*`` and ``decode_head.*`` for ``tools/test.py`` or
``load_from``, and ``DST`` with the ``.py`` extension its config (the model
alone, or ``--config BASE`` with its model replaced, keeping BASE's data,
pipelines and test settings).  ``--num-heads`` and ``--num-clusters`` are
the release encoder's (not stored in the weights; the defaults are the
released segmentors').

Other files, and Segmenter files with ``--backbone-only``, give the
backbone's weights with no prefix: use them as
``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.  With
``--prefix backbone.`` (and ``--head-prefix head.fc.`` to keep the
release's linear head) it is a whole-model checkpoint for ``load_from``.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar

from mmcast.engine.checkpoint import CheckpointError, load_checkpoint_file
from mmcast.models.utils.release_ckpt import (convert_release_segmentor,
                                              convert_release_state_dict)
from mmcast.utils import add_cli_flags, run_cli

#: The released segmentors' encoder settings (CAST-S/B, 512 crops).
SEGMENTOR_HEADS = 12
SEGMENTOR_CLUSTERS = (320, 160, 80, 40)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='release checkpoint (.pth/.pt)')
    parser.add_argument('dst', help='where to write the converted file')
    parser.add_argument(
        '--prefix', default='', help="prefix of the backbone's keys, e.g. "
        "'backbone.' for a whole-model checkpoint")
    parser.add_argument(
        '--head-prefix', default=None, help="keep the release's linear head "
        "under this prefix, e.g. 'head.fc.'")
    parser.add_argument(
        '--config', default=None, help='(Segmenter files) base config whose '
        'model is replaced by the release segmentor in the written config')
    parser.add_argument(
        '--num-heads', type=int, default=SEGMENTOR_HEADS,
        help='(Segmenter files) attention heads of the release encoder')
    parser.add_argument(
        '--num-clusters', type=int, nargs='+', default=SEGMENTOR_CLUSTERS,
        help='(Segmenter files) clusters per stage of the release encoder')
    parser.add_argument(
        '--backbone-only', action='store_true', help='(Segmenter files) '
        'write the backbone only, for a Pretrained init')
    add_cli_flags(parser, verbose=False)
    return parser.parse_args()


def has_decoder(ckpt) -> bool:
    """Whether a release file is a whole Segmenter (``decoder.*``)."""
    model = ckpt.get('model') if isinstance(ckpt, dict) else None
    return isinstance(model, dict) and any(
        k.startswith('decoder.') for k in model)


def segmentor_config(model_cfg: dict, base: str = None) -> Config:
    """The written config: the release model, alone or in ``base``."""
    if base is None:
        return Config(dict(
            default_scope='mmseg',
            custom_imports=dict(imports=['mmcast'],
                                allow_failed_imports=False),
            model=model_cfg))
    cfg = Config.fromfile(base)
    model = cfg.get('model') or {}
    old = (model.get('decode_head') or {}).get('num_classes')
    new = model_cfg['decode_head']['num_classes']
    if old is not None and old != new:
        print(f'warning: {base} has {old} classes, the release decoder '
              f'{new}: check that the dataset matches the checkpoint')
    model.update(backbone=model_cfg['backbone'],
                 decode_head=model_cfg['decode_head'])
    for key in ('type', 'data_preprocessor', 'test_cfg', 'train_cfg'):
        model.setdefault(key, model_cfg[key])
    cfg.model = model
    cfg.setdefault('custom_imports', dict(imports=['mmcast'],
                                          allow_failed_imports=False))
    return cfg


def convert(src, dst, prefix='', head_prefix=None, config=None,
            num_heads=SEGMENTOR_HEADS, num_clusters=SEGMENTOR_CLUSTERS,
            backbone_only=False, progress=False):
    """Convert ``src`` to ``dst``; returns the written dict.

    A whole Segmenter (unless ``backbone_only``) also writes its config
    next to ``dst`` (``.py``); the returned dict then has ``config``, the
    path of that file.  ``progress`` shows a bar over the three steps
    (read, map, write) for files of 64 MB and more.
    """
    large = osp.isfile(src) and osp.getsize(src) >= 64 << 20
    bar = ProgressBar(3, file=sys.stdout) if progress and large else None
    ckpt = load_checkpoint_file(src)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{src} holds a {type(ckpt).__name__}, not '
                              'a checkpoint dict')
    if bar:
        bar.update()
    if has_decoder(ckpt) and not backbone_only:
        state_dict, model_cfg = convert_release_segmentor(
            ckpt, num_heads, list(num_clusters))
        meta = convert_release_state_dict(ckpt)[1]
        meta.pop('head', None)
        meta.update(head_shape=None, decoder=model_cfg['decode_head'])
        result = dict(state_dict=state_dict, meta=dict(cast_release=meta))
    else:
        state_dict, meta = convert_release_state_dict(ckpt)
        head = meta.pop('head', None)
        out = {prefix + k: v for k, v in state_dict.items()}
        if head_prefix is not None:
            if head is None:
                raise KeyError(f'{src} holds no linear head to keep')
            out.update({head_prefix + k: v for k, v in head.items()})
        meta['head_shape'] = None if head is None else \
            list(head['weight'].shape)
        result = dict(state_dict=out, meta=dict(cast_release=meta))
    if bar:
        bar.update()
    torch.save(result, dst)
    if 'decoder' in meta:
        cfg_path = osp.splitext(dst)[0] + '.py'
        segmentor_config(model_cfg, config).dump(cfg_path)
        result['config'] = cfg_path
    if bar:
        bar.update()
        print()
    return result


def main():
    args = parse_args()
    result = convert(args.src, args.dst, args.prefix, args.head_prefix,
                     args.config, args.num_heads, args.num_clusters,
                     args.backbone_only, progress=True)
    meta = result['meta']['cast_release']
    print(f"converted {args.src} ({meta['format']} format, "
          f"{len(result['state_dict'])} tensors) -> {args.dst}")
    print('backbone settings: ' + ', '.join(
        f'{k}={meta[k]}' for k in ('embed_dims', 'depths', 'pos_embed',
                                   'with_fusion', 'final_norm', 'img_size')
        if k in meta))
    if 'config' in result:
        dec = meta['decoder']
        print(f"mask-transformer decoder: {dec['num_classes']} classes, "
              f"{dec['num_layers']} layers, width {dec['embed_dims']}")
        print(f"segmentor config -> {result['config']} (test it with "
              f"tools/test.py {result['config']} {args.dst})")


if __name__ == '__main__':
    run_cli(main)
