"""Deformable cross-attention of the SeqFormer decoder: box queries sample, two projections read."""
from typing import Tuple

import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention, MultiScaleDeformableAttnFunction
from mmdet.registry import MODELS
from torch import Tensor, nn

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


@MODELS.register_module()
class SeqFormerMSDeformAttn(MultiScaleDeformableAttention):
    """Multi-scale deformable attention returning two projections of the sampled features.

    Offsets and attention weights come from the (per-frame) box query only. The sampled features are
    projected twice: ``output_proj`` feeds the instance query (after temporal aggregation) and
    ``output_proj_box`` feeds the box query. No residual or dropout is applied here: the decoder
    layer owns them, as each branch has its own.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.output_proj_box = nn.Linear(self.embed_dims, self.embed_dims)
        # As the official model: xavier weight, bias left at nn.Linear's default.
        nn.init.xavier_uniform_(self.output_proj_box.weight)

    def init_weights(self) -> None:
        super().init_weights()
        # mmcv's constructor calls init_weights before the second projection exists.
        if hasattr(self, 'output_proj_box'):
            nn.init.xavier_uniform_(self.output_proj_box.weight)

    def sample(self, query: Tensor, value: Tensor, key_padding_mask: Tensor, reference_points: Tensor,
               spatial_shapes: Tensor, level_start_index: Tensor) -> Tensor:
        """Deformable sampling before the output projections.

        Args:
            query: (bs, nq, C) box query plus positional embedding; bs = videos x frames.
            value: (bs, S, C) encoder memory of the same frames, S = sum of H_l * W_l.
            key_padding_mask: (bs, S) True on padding, or None.
            reference_points: (bs, nq, L, 2) points or (bs, nq, L, 4) cxcywh boxes in [0, 1],
                already scaled by the valid ratios.
            spatial_shapes: (L, 2) (h, w) per level. level_start_index: (L,).

        Returns:
            Tensor: (bs, nq, C) sampled features.
        """
        bs, num_query, _ = query.shape
        num_value = value.shape[1]
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, num_value, self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(bs, num_query, self.num_heads, self.num_levels,
                                                    self.num_points, 2)
        weights = self.attention_weights(query).view(bs, num_query, self.num_heads,
                                                     self.num_levels * self.num_points)
        weights = weights.softmax(-1).view(bs, num_query, self.num_heads, self.num_levels, self.num_points)
        if reference_points.shape[-1] == 2:
            normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
            locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        else:
            locations = (reference_points[:, :, None, :, None, :2]
                         + offsets / self.num_points * reference_points[:, :, None, :, None, 2:] * 0.5)
        if value.is_cuda:
            # The CUDA kernel dispatches float/double/half only.
            dtype = value.dtype
            cast = dtype == torch.bfloat16
            out = MultiScaleDeformableAttnFunction.apply(
                value.float() if cast else value, spatial_shapes, level_start_index,
                locations.float() if cast else locations, weights.float() if cast else weights,
                _im2col_step(bs, self.im2col_step))
            return out.to(dtype)
        return multi_scale_deformable_attn_cpu(value, spatial_shapes, locations, weights)

    def forward(self, query: Tensor, query_pos: Tensor, value: Tensor, key_padding_mask: Tensor,
                reference_points: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Returns ``(output_proj(S), output_proj_box(S))``, each (bs, nq, C); shapes as in :meth:`sample`."""
        sampled = self.sample(query + query_pos, value, key_padding_mask, reference_points, spatial_shapes,
                              level_start_index)
        return self.output_proj(sampled), self.output_proj_box(sampled)
