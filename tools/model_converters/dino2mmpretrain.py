# Copyright (c) mmcast contributors. All rights reserved.
"""Convert a DINO (or any timm-style) ViT checkpoint for mmpretrain's
VisionTransformer, e.g. DINO's ViT-S/16 for the Leopart configs.

    python tools/model_converters/dino2mmpretrain.py SRC DST [--prefix P]

SRC may be DINO's backbone file or its full checkpoint (the ``teacher``
weights are taken); ``module.`` / ``backbone.`` prefixes and the DINO head
are dropped.  DST holds ``state_dict`` with mmpretrain's names (plus
``--prefix``): use it as ``model.backbone.init_cfg=dict(type='Pretrained',
checkpoint=DST)``.
"""
import argparse
import os.path as osp
import re

import torch

#: timm / DINO block names -> mmpretrain's.
RENAMES = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'ln1.'),
]


def convert_state_dict(state_dict: dict) -> dict:
    """mmpretrain names of a timm-style ViT state dict (head dropped)."""
    out = {}
    for key, value in state_dict.items():
        for prefix in ('module.', 'backbone.'):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if key.startswith('head.') or key.startswith('prototypes.') or \
                key.startswith('projection_head.'):
            continue
        for pattern, repl in RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def convert(src: str, dst: str, prefix: str = '') -> dict:
    if not osp.isfile(src):
        raise FileNotFoundError(f'no checkpoint at {src}')
    ckpt = torch.load(src, map_location='cpu', weights_only=False)
    for key in ('teacher', 'state_dict', 'model'):
        if isinstance(ckpt, dict) and key in ckpt:
            ckpt = ckpt[key]
            break
    state_dict = {prefix + k: v for k, v in convert_state_dict(ckpt).items()}
    torch.save(dict(state_dict=state_dict), dst)
    return state_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='DINO / timm ViT checkpoint')
    parser.add_argument('dst', help='where to write the converted file')
    parser.add_argument('--prefix', default='',
                        help="key prefix, e.g. 'backbone.'")
    args = parser.parse_args()
    sd = convert(args.src, args.dst, args.prefix)
    print(f'converted {len(sd)} tensors: {args.src} -> {args.dst}')


if __name__ == '__main__':
    main()
