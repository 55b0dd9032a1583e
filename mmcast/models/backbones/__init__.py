# Copyright (c) mmcast contributors. All rights reserved.
from .cast import CAST
from .patch_token_vit import PatchTokenViT

__all__ = ['CAST', 'PatchTokenViT']
