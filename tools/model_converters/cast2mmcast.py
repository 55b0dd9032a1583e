# Copyright (c) mmcast contributors. All rights reserved.
"""Convert a CAST release checkpoint (MoCo v3, DeiT or Segmenter file) for
mmcast.

    python tools/model_converters/cast2mmcast.py SRC DST
        [--prefix backbone.] [--head-prefix head.fc.]

By default DST holds the backbone's weights with no prefix: use it as
``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.  With
``--prefix backbone.`` (and ``--head-prefix head.fc.`` to keep the release's
linear head) it is a whole-model checkpoint for ``load_from``.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.utils import ProgressBar

from mmcast.engine.checkpoint import CheckpointError, load_checkpoint_file
from mmcast.models.utils.release_ckpt import convert_release_state_dict
from mmcast.utils import add_cli_flags, run_cli


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
    add_cli_flags(parser, verbose=False)
    return parser.parse_args()


def convert(src, dst, prefix='', head_prefix=None, progress=False):
    """Convert ``src`` to ``dst``; returns the written dict.  ``progress``
    shows a bar over the three steps (read, map, write) for files of 64 MB
    and more."""
    large = osp.isfile(src) and osp.getsize(src) >= 64 << 20
    bar = ProgressBar(3, file=sys.stdout) if progress and large else None
    ckpt = load_checkpoint_file(src)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{src} holds a {type(ckpt).__name__}, not '
                              'a checkpoint dict')
    if bar:
        bar.update()
    state_dict, meta = convert_release_state_dict(ckpt)
    if bar:
        bar.update()
    head = meta.pop('head', None)
    out = {prefix + k: v for k, v in state_dict.items()}
    if head_prefix is not None:
        if head is None:
            raise KeyError(f'{src} holds no linear head to keep')
        out.update({head_prefix + k: v for k, v in head.items()})
    meta['head_shape'] = None if head is None else list(head['weight'].shape)
    result = dict(state_dict=out, meta=dict(cast_release=meta))
    torch.save(result, dst)
    if bar:
        bar.update()
        print()
    return result


def main():
    args = parse_args()
    result = convert(args.src, args.dst, args.prefix, args.head_prefix,
                     progress=True)
    meta = result['meta']['cast_release']
    print(f"converted {args.src} ({meta['format']} format, "
          f"{len(result['state_dict'])} tensors) -> {args.dst}")
    print('backbone settings: ' + ', '.join(
        f'{k}={meta[k]}' for k in ('embed_dims', 'depths', 'pos_embed',
                                   'with_fusion', 'final_norm', 'img_size')
        if k in meta))


if __name__ == '__main__':
    run_cli(main)
