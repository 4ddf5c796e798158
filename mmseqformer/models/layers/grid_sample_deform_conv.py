"""Deformable convolution v1 in plain PyTorch (``grid_sample``): exportable, and a reference for mmcv's kernel."""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.utils import _pair


@MODELS.register_module()
class GridSampleDeformConv2d(nn.Module):
    """DCNv1 (Dai et al., ICCV 2017) with the semantics of mmcv's ``DeformConv2d`` (and of the CUDA kernel of the
    original DCN): tap ``k = i * kw + j`` of output pixel (y, x) reads the input bilinearly at
    ``(y * stride - pad + i * dilation + dy_k, x * stride - pad + j * dilation + dx_k)``, where offset channel
    ``2k`` of a deformable group is dy and ``2k + 1`` is dx; bilinear corners outside the map contribute 0.

    Same arguments, ``weight`` key, shape and init as mmcv's ``DeformConv2d``; no bias, ``groups`` = 1. Works
    on any device and dtype and exports to ONNX (``grid_sample``), at the cost of gathering all
    ``kh * kw`` shifted copies of the input at once: (N, C, kh * kw, H_out, W_out) floats.

    Args:
        in_channels, out_channels: channels. kernel_size, stride, padding, dilation: as ``nn.Conv2d``.
        groups: only 1. deform_groups: channel groups with their own offsets (must divide in_channels).
        bias: only False.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, Tuple[int, int]],
                 stride: Union[int, Tuple[int, int]] = 1, padding: Union[int, Tuple[int, int]] = 0,
                 dilation: Union[int, Tuple[int, int]] = 1, groups: int = 1, deform_groups: int = 1,
                 bias: bool = False) -> None:
        super().__init__()
        if groups != 1 or bias:
            raise ValueError('GridSampleDeformConv2d supports groups=1 and bias=False only')
        if in_channels % deform_groups:
            raise ValueError(f'in_channels {in_channels} is not divisible by deform_groups {deform_groups}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, nonlinearity='relu')

    def output_size(self, height: int, width: int) -> Tuple[int, int]:
        """(H_out, W_out) of an (H, W) input, as ``nn.Conv2d``."""
        return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in
                     zip((height, width), self.kernel_size, self.stride, self.padding, self.dilation))

    def sample_taps(self, x: Tensor, offset: Tensor) -> Tensor:
        """The deformed input of every tap (the im2col columns).

        Args:
            x: (N, C, H, W). offset: (N, deform_groups * 2 * kh * kw, H_out, W_out).

        Returns:
            Tensor: (N, C, kh * kw, H_out, W_out).
        """
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        g, taps = self.deform_groups, kh * kw
        h_out, w_out = self.output_size(h, w)
        if offset.shape != (n, 2 * g * taps, h_out, w_out):
            raise ValueError(f'offset must be {(n, 2 * g * taps, h_out, w_out)}, got {tuple(offset.shape)}')
        kwargs = dict(dtype=offset.dtype, device=offset.device)
        # integer sampling grid of every (tap, output pixel): (taps, H_out, W_out)
        tap_y = (torch.arange(kh, **kwargs) * self.dilation[0]).repeat_interleave(kw)
        tap_x = (torch.arange(kw, **kwargs) * self.dilation[1]).repeat(kh)
        out_y = torch.arange(h_out, **kwargs) * self.stride[0] - self.padding[0]
        out_x = torch.arange(w_out, **kwargs) * self.stride[1] - self.padding[1]
        base_y = tap_y[:, None, None] + out_y[None, :, None]
        base_x = tap_x[:, None, None] + out_x[None, None, :]
        offset = offset.view(n * g, taps, 2, h_out, w_out)
        pix_y = base_y + offset[:, :, 0]  # (N*g, taps, H_out, W_out)
        pix_x = base_x + offset[:, :, 1]
        # pixel p -> (2p + 1) / size - 1 is align_corners=False's exact inverse (valid for a size of 1 too);
        # padding 'zeros' drops the corners outside the map, as the DCN kernel does
        grid = torch.stack(((2 * pix_x + 1) / w - 1, (2 * pix_y + 1) / h - 1), dim=-1)
        cols = F.grid_sample(x.reshape(n * g, c // g, h, w), grid.view(n * g, taps * h_out, w_out, 2),
                             mode='bilinear', padding_mode='zeros', align_corners=False)
        return cols.view(n, c, taps, h_out, w_out)

    def forward(self, x: Tensor, offset: Tensor) -> Tensor:
        """x (N, C_in, H, W), offset (N, 2 * deform_groups * kh * kw, H_out, W_out) -> (N, C_out, H_out, W_out)."""
        cols = self.sample_taps(x, offset.to(x.dtype))
        n, _, _, h_out, w_out = cols.shape
        out = torch.matmul(self.weight.flatten(1), cols.flatten(1, 2).flatten(2))  # (N, C_out, H_out*W_out)
        return out.view(n, self.out_channels, h_out, w_out)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}, dilation={self.dilation}, deform_groups={self.deform_groups}')
