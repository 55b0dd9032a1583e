# Copyright (c) mmcast contributors. All rights reserved.
"""Test-time adaptation of CAST's hierarchy (paper appendix C)."""
from .tent import (class_means, entropy_loss, image_embeddings,
                   norm_parameters, tent_adapt)

__all__ = [
    'class_means', 'entropy_loss', 'image_embeddings', 'norm_parameters',
    'tent_adapt'
]
