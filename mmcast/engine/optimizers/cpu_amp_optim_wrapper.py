# Copyright (c) mmcast contributors. All rights reserved.
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmcast.registry import register_optim_wrapper


@register_optim_wrapper
class CPUAmpOptimWrapper(OptimWrapper):
    """Mixed precision training on the CPU (registered in mmseg and
    mmpretrain).

    mmengine 0.10's ``AmpOptimWrapper`` refuses to start without a GPU.
    This wrapper runs the forward pass and the loss under
    ``torch.autocast('cpu', dtype=torch.bfloat16)``: matrix products and
    convolutions in bfloat16, reductions, norms and softmax in float32, the
    weights and the optimizer in float32.  bfloat16 has float32's exponent
    range, so no loss scaling is needed and the state dict is plain
    ``OptimWrapper``'s.  ``tools/train.py --amp`` picks it when no GPU is
    present (``AmpOptimWrapper`` with float16 otherwise).

    Args:
        dtype (str | torch.dtype): the autocast type; only ``'bfloat16'``
            (CPU autocast's type). Defaults to ``'bfloat16'``.
        **kwargs: as :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError('CPUAmpOptimWrapper runs bfloat16 autocast '
                             f'only, got dtype={dtype!r}')
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context (gradient accumulation) inside bfloat16
        autocast on the CPU."""
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield
