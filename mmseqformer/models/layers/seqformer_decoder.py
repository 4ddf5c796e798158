"""SeqFormer decoder: a stack of query-decomposed layers with per-frame iterative box refinement."""
from typing import List, Optional, Tuple

import torch
from mmdet.models.layers import inverse_sigmoid
from mmdet.utils import ConfigType, OptConfigType
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from .seqformer_decoder_layer import SeqFormerDecoderLayer


def refine_boxes(deltas: Tensor, reference: Tensor) -> Tensor:
    """Apply box-branch outputs to reference points/boxes in logit space.

    Args:
        deltas: (..., 4) raw box-branch output.
        reference: (..., 2) reference points (the first layer: only the centre is offset) or
            (..., 4) cxcywh boxes, in [0, 1].

    Returns:
        Tensor: (..., 4) cxcywh in [0, 1].
    """
    if reference.shape[-1] == 2:
        return torch.cat([deltas[..., :2] + inverse_sigmoid(reference), deltas[..., 2:]], -1).sigmoid()
    return (deltas + inverse_sigmoid(reference)).sigmoid()


class SeqFormerDecoder(BaseModule):
    """Decoder returning every layer's instance queries, box queries and per-frame boxes."""

    def __init__(self, num_layers: int, layer_cfg: ConfigType, init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.layers = ModuleList([SeqFormerDecoderLayer(**layer_cfg) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.embed_dims = self.layers[0].embed_dims

    def forward(self, query: Tensor, query_pos: Tensor, value: Tensor, key_padding_mask: Optional[Tensor],
                reference_points: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                valid_ratios: Tensor, num_frames: int,
                reg_branches: nn.ModuleList) -> Tuple[Tensor, Tensor, List[Tensor], Tensor]:
        """
        Args:
            query: (B, Q, C) content part of the query embedding; both the instance queries and
                the box queries start from it.
            query_pos: (B, Q, C).
            value: (B*T, S, C) encoder memory. key_padding_mask: (B*T, S) or None.
            reference_points: (B, Q, 2) initial reference points in [0, 1].
            spatial_shapes: (L, 2). level_start_index: (L,).
            valid_ratios: (B, L, 2) of each video (taken from its first frame).
            num_frames: T.
            reg_branches: one box branch per layer, applied per frame.

        Returns:
            tuple:
            - inst_queries (num_layers, B, Q, C)
            - box_queries (num_layers, B, T, Q, C)
            - references: list over layers of each layer's *input* reference, (B, T, Q, 2) for the
              first layer, (B, T, Q, 4) afterwards (the mask head places its relative coordinates there)
            - boxes (num_layers, B, T, Q, 4) refined cxcywh in [0, 1], differentiable (the next layer
              receives them detached).
        """
        b, q, _ = query.shape
        reference = reference_points[:, None].expand(b, num_frames, q, reference_points.shape[-1])
        inst_query, box_query = query, query
        inst_list, box_list, ref_list, boxes_list = [], [], [], []
        for layer, reg_branch in zip(self.layers, reg_branches):
            ratios = valid_ratios if reference.shape[-1] == 2 else torch.cat([valid_ratios, valid_ratios], -1)
            ref_input = reference[:, :, :, None] * ratios[:, None, None]
            inst_query, box_query = layer(inst_query, box_query, query_pos, value, key_padding_mask,
                                          ref_input.flatten(0, 1), spatial_shapes, level_start_index, num_frames)
            boxes = refine_boxes(reg_branch(box_query), reference)
            inst_list.append(inst_query)
            box_list.append(box_query)
            ref_list.append(reference)
            boxes_list.append(boxes)
            reference = boxes.detach()
        return torch.stack(inst_list), torch.stack(box_list), ref_list, torch.stack(boxes_list)
