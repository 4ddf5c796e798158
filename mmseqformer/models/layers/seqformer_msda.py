"""Deformable cross-attention of the SeqFormer decoder: box queries sample, two projections read."""
from typing import Tuple

from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention
from mmdet.registry import MODELS
from torch import Tensor, nn

from .level_shapes import LevelShapes
from .traceable_msda import deformable_sample


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
               spatial_shapes: LevelShapes, level_start_index: Tensor) -> Tensor:
        """Deformable sampling before the output projections.

        Args:
            query: (bs, nq, C) box query plus positional embedding; bs = videos x frames.
            value: (bs, S, C) encoder memory of the same frames, S = sum of H_l * W_l.
            key_padding_mask: (bs, S) True on padding, or None.
            reference_points: (bs, nq, L, 2) points or (bs, nq, L, 4) cxcywh boxes in [0, 1],
                already scaled by the valid ratios.
            spatial_shapes: (L, 2) (h, w) per level, a tensor or int pairs. level_start_index: (L,).

        Returns:
            Tensor: (bs, nq, C) sampled features.
        """
        return deformable_sample(self, query, value, key_padding_mask, reference_points, spatial_shapes,
                                 level_start_index)

    def forward(self, query: Tensor, query_pos: Tensor, value: Tensor, key_padding_mask: Tensor,
                reference_points: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Returns ``(output_proj(S), output_proj_box(S))``, each (bs, nq, C); shapes as in :meth:`sample`."""
        sampled = self.sample(query + query_pos, value, key_padding_mask, reference_points, spatial_shapes,
                              level_start_index)
        return self.output_proj(sampled), self.output_proj_box(sampled)
