"""Mixed-precision training with bfloat16 autocast, on CPU as on GPU."""
from contextlib import contextmanager
from typing import MutableMapping, Optional

import torch
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper
from torch import nn


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass runs under ``torch.autocast(dtype=torch.bfloat16)``.

    mmengine's ``AmpOptimWrapper`` needs CUDA and a loss scaler (float16). bfloat16 has float32's exponent range,
    so gradients need no scaling, and CPUs with AVX512-BF16/AMX run its matmuls and convolutions about twice as
    fast: convolutions, linear layers and matmuls run in bfloat16, weights, gradients and optimizer states stay
    float32; the SeqFormer head computes its losses in float32. Meant for CPUs: mmcv's CUDA deformable-attention
    kernel does not take bfloat16 inputs, so on a GPU use mmengine's float16 ``AmpOptimWrapper`` (``--amp``).

    Args:
        device_type: ``'cpu'`` or ``'cuda'``; None (default) takes the model's parameters' device.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, device_type: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        device_type = self.device_type or next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            yield


def use_mixed_precision(optim_wrapper: MutableMapping, device_type: str) -> None:
    """Turn an ``optim_wrapper`` config into mixed precision for ``device_type`` (what ``--amp`` means).

    On CUDA mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scale); elsewhere, where mmengine's wrapper does
    not run, :class:`AutocastOptimWrapper` (bfloat16, no loss scaling needed).
    """
    if device_type == 'cuda':
        optim_wrapper.update(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
    else:
        optim_wrapper.update(type='AutocastOptimWrapper')
