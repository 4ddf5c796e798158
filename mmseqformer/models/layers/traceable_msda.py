"""mmcv's multi-scale deformable attention with level sizes that may be ints, so that it traces for export."""
from typing import Optional

import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention, MultiScaleDeformableAttnFunction
from torch import Tensor

from .level_shapes import LevelShapes, offset_normalizer, shapes_tensor
from .ms_deform_attn_cpu import multi_scale_deformable_attn_cpu


def _im2col_step(batch: int, preferred: int) -> int:
    """Largest divisor of ``batch`` not above ``preferred``.

    mmcv's CUDA kernel asserts ``batch % min(batch, im2col_step) == 0``; with frames folded into the
    batch (e.g. 300 frames) the default step of 64 fails.
    """
    step = min(batch, preferred)
    while batch % step:
        step -= 1
    return step


def deformable_sample(attn: MultiScaleDeformableAttention, query: Tensor, value: Tensor,
                      key_padding_mask: Optional[Tensor], reference_points: Tensor, spatial_shapes: LevelShapes,
                      level_start_index: Optional[Tensor]) -> Tensor:
    """mmcv's deformable sampling of ``attn`` before its output projection (mmcv's forward, batch first).

    Args:
        query: (bs, nq, C) query plus positional embedding.
        value: (bs, S, C) memory, S = sum of H_l * W_l.
        key_padding_mask: (bs, S) True on padding, or None.
        reference_points: (bs, nq, L, 2) points or (bs, nq, L, 4) cxcywh boxes in [0, 1].
        spatial_shapes: (L, 2) tensor or L (H_l, W_l) int pairs. level_start_index: (L,) (CUDA only).

    Returns:
        Tensor: (bs, nq, C) sampled features.
    """
    bs, num_query, _ = query.shape
    num_value = value.shape[1]
    value = attn.value_proj(value)
    if key_padding_mask is not None:
        value = value.masked_fill(key_padding_mask[..., None], 0.0)
    value = value.view(bs, num_value, attn.num_heads, -1)
    offsets = attn.sampling_offsets(query).view(bs, num_query, attn.num_heads, attn.num_levels, attn.num_points, 2)
    weights = attn.attention_weights(query).view(bs, num_query, attn.num_heads, attn.num_levels * attn.num_points)
    weights = weights.softmax(-1).view(bs, num_query, attn.num_heads, attn.num_levels, attn.num_points)
    if reference_points.shape[-1] == 2:
        normalizer = offset_normalizer(spatial_shapes, offsets)
        locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
    else:
        locations = (reference_points[:, :, None, :, None, :2]
                     + offsets / attn.num_points * reference_points[:, :, None, :, None, 2:] * 0.5)
    if value.is_cuda:
        # The CUDA kernel dispatches float/double/half only.
        dtype = value.dtype
        cast = dtype == torch.bfloat16
        out = MultiScaleDeformableAttnFunction.apply(
            value.float() if cast else value, shapes_tensor(spatial_shapes, value.device), level_start_index,
            locations.float() if cast else locations, weights.float() if cast else weights,
            _im2col_step(bs, attn.im2col_step))
        return out.to(dtype)
    return multi_scale_deformable_attn_cpu(value, spatial_shapes, locations, weights)


class TraceableMSDeformAttn(MultiScaleDeformableAttention):
    """mmcv's ``MultiScaleDeformableAttention`` (same parameters, init and result) whose ``spatial_shapes`` may be
    (H_l, W_l) int pairs: mmcv's forward checks the level sizes against the memory with tensor values, which
    ``torch.export`` cannot trace with a dynamic image size. Batch-first only (as mmdet's deformable encoder)."""

    def forward(self, query: Tensor, key: Optional[Tensor] = None, value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None, query_pos: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None, reference_points: Optional[Tensor] = None,
                spatial_shapes: Optional[LevelShapes] = None, level_start_index: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """(bs, nq, C) queries -> (bs, nq, C): dropout(output_proj(sampled)) + identity, as mmcv's."""
        if not self.batch_first:
            raise ValueError(f'{type(self).__name__} is batch-first only')
        value = query if value is None else value
        identity = query if identity is None else identity
        if query_pos is not None:
            query = query + query_pos
        sampled = deformable_sample(self, query, value, key_padding_mask, reference_points, spatial_shapes,
                                    level_start_index)
        return self.dropout(self.output_proj(sampled)) + identity
