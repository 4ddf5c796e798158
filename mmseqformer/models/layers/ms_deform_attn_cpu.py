"""Multi-scale deformable attention without the CUDA kernel: mmcv's PyTorch path, with less memory traffic."""
import torch
import torch.nn.functional as F
from mmcv.ops import multi_scale_deform_attn
from torch import Tensor

from .level_shapes import LevelShapes, level_sizes


def multi_scale_deformable_attn_cpu(value: Tensor, spatial_shapes: LevelShapes, sampling_locations: Tensor,
                                    attention_weights: Tensor) -> Tensor:
    """Same result as ``mmcv.ops.multi_scale_deformable_attn_pytorch`` (to float rounding), ~1.5x faster on CPU.

    mmcv stacks the bilinear samples of every level into one (bs*heads, C, nq, levels*points) tensor and then
    multiplies and sums it: two extra passes over the largest tensor of the model. Here each level's samples are
    weighted and reduced right after ``grid_sample`` (in place when no gradient is needed) and accumulated, and
    every grid handed to ``grid_sample`` is contiguous (a strided grid makes it ~2x slower).

    Args:
        value: (bs, S, heads, C) with S = sum of H_l * W_l.
        spatial_shapes: (L, 2) (H_l, W_l) per level, a tensor or int pairs (:mod:`.level_shapes`).
        sampling_locations: (bs, nq, heads, L, P, 2) (x, y) in [0, 1].
        attention_weights: (bs, nq, heads, L, P).

    Returns:
        Tensor: (bs, nq, heads * C).
    """
    bs, _, heads, channels = value.shape
    _, num_queries, _, num_levels, _, _ = sampling_locations.shape
    grids = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)  # (bs*heads, nq, L, P, 2)
    weights = attention_weights.transpose(1, 2).flatten(0, 1)[:, None]  # (bs*heads, 1, nq, L, P)
    in_place = not (torch.is_grad_enabled() and (value.requires_grad or sampling_locations.requires_grad
                                                 or attention_weights.requires_grad))
    out, start = None, 0
    for level, (h, w) in enumerate(level_sizes(spatial_shapes)):
        level_value = value[:, start:start + h * w].permute(0, 2, 3, 1).reshape(bs * heads, channels, h, w)
        start += h * w
        samples = F.grid_sample(level_value, grids[:, :, level].contiguous(), mode='bilinear', padding_mode='zeros',
                                align_corners=False)  # (bs*heads, C, nq, P)
        level_weights = weights[..., level, :]
        level_out = (samples.mul_(level_weights) if in_place else samples * level_weights).sum(-1)
        out = level_out if out is None else out + level_out
    return out.view(bs, heads * channels, num_queries).transpose(1, 2).contiguous()


def install_as_mmcv_pytorch_path() -> None:
    """Make mmcv use :func:`multi_scale_deformable_attn_cpu` wherever it runs its PyTorch path (idempotent).

    mmcv's ``MultiScaleDeformableAttention`` (the deformable encoder of mmdet) calls the module-level
    ``multi_scale_deformable_attn_pytorch`` whenever its CUDA kernel is not used; the replacement gives the same
    values with ~1/3 less time on CPU. mmcv's own function stays available as
    ``mmcv_multi_scale_deformable_attn_pytorch`` (the reference of the tests).
    """
    if not hasattr(multi_scale_deform_attn, 'mmcv_multi_scale_deformable_attn_pytorch'):
        multi_scale_deform_attn.mmcv_multi_scale_deformable_attn_pytorch = \
            multi_scale_deform_attn.multi_scale_deformable_attn_pytorch
    multi_scale_deform_attn.multi_scale_deformable_attn_pytorch = multi_scale_deformable_attn_cpu
