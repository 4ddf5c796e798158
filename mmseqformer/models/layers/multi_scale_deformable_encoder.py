"""The multi-scale deformable encoder stage of Deformable DETR, as one module shared by video models."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.detectors import DeformableDETR
from mmdet.models.layers import DeformableDetrTransformerEncoder, DeformableDetrTransformerEncoderLayer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType
from mmengine.model import ModuleList
from torch import Tensor, nn

from .level_shapes import LevelShapes, level_sizes, level_starts, shapes_tensor
from .traceable_msda import TraceableMSDeformAttn


class TraceableDeformableEncoderLayer(DeformableDetrTransformerEncoderLayer):
    """mmdet's deformable encoder layer (same parameters, draws and keys) on :class:`TraceableMSDeformAttn`."""

    def _init_layers(self) -> None:
        self.self_attn = TraceableMSDeformAttn(**self.self_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList([build_norm_layer(self.norm_cfg, self.embed_dims)[1] for _ in range(2)])


@MODELS.register_module()
class MultiScaleDeformableEncoder(DeformableDetrTransformerEncoder):
    """Positional encoding, level embeddings, flattening, padding masks, valid ratios and mmdet's deformable
    encoder of a batch of frames; every frame is encoded on its own (attention stays within a frame).

    It is mmdet's ``DeformableDetrTransformerEncoder`` (a subclass, so the layers keep their state-dict keys
    ``layers.*``) that also owns the input side of the stage, so that a model passes neck levels and padding
    masks and gets the flattened memory with everything a deformable decoder or a mask branch needs.

    The level sizes are passed down as Python ints taken from the feature maps (mmdet passes a tensor and builds
    the reference points from its values): the same results, and the stage traces for ONNX export with a
    dynamic image size.

    Args:
        num_layers, layer_cfg, init_cfg: as ``DeformableDetrTransformerEncoder`` (no activation checkpointing).
        positional_encoding: per-frame positional encoding config (default type ``SinePositionalEncoding``);
            called as ``pe(mask (F, H_l, W_l) or None, input=feat (F, C, H_l, W_l))`` -> (F, C, H_l, W_l).
        num_levels: feature levels L (one level embedding each).
    """

    def __init__(self, num_layers: int, layer_cfg: ConfigType, positional_encoding: ConfigType,
                 num_levels: int = 4, num_cp: int = -1, init_cfg: OptConfigType = None) -> None:
        if num_cp > 0:
            raise NotImplementedError('activation checkpointing (num_cp) is not supported here')
        super().__init__(num_layers=num_layers, layer_cfg=layer_cfg, num_cp=num_cp, init_cfg=init_cfg)
        pe_cfg = dict(type='SinePositionalEncoding')
        pe_cfg.update(positional_encoding)
        self.positional_encoding = MODELS.build(pe_cfg)
        self.num_levels = num_levels
        # Zeros, not torch.Tensor(): a model used without init_weights() must not compute on uninitialised
        # memory; not random here, so that building a model draws no random numbers for it.
        self.level_embed = nn.Parameter(torch.zeros(num_levels, self.embed_dims))

    def _init_layers(self) -> None:
        self.layers = ModuleList([TraceableDeformableEncoderLayer(**self.layer_cfg) for _ in range(self.num_layers)])
        self.embed_dims = self.layers[0].embed_dims

    def init_encoder_weights(self) -> None:
        """Deformable DETR's init: xavier-uniform layer matrices, the attention's own init, normal level
        embeddings. Not ``init_weights``, which the owning model's ``init_weights`` calls on its children: the
        owner decides where in its random stream these draws happen."""
        for p in self.layers.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.layers.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        nn.init.normal_(self.level_embed)

    def pre_transformer(self, mlvl_feats: Tuple[Tensor, ...], masks: Optional[Tensor]) -> Dict[str, Tensor]:
        """Flatten levels, positional embeddings and padding masks of F frames.

        Args:
            mlvl_feats: L levels, each (F, C, H_l, W_l). masks: (F, H, W) True on padding, or None.

        Returns:
            dict with ``feat`` (F, S, C), ``feat_pos`` (F, S, C) (positional encoding plus level embedding),
            ``feat_mask`` (F, S) True on padding or None, ``spatial_shapes`` (L, 2) as (H_l, W_l),
            ``level_shapes`` the same as L (H_l, W_l) int pairs, ``level_start_index`` (L,), ``valid_ratios``
            (F, L, 2) as (w, h) valid fractions; S = sum of H_l * W_l.
        """
        if len(mlvl_feats) != self.num_levels:
            raise ValueError(f'{type(self).__name__} has {self.num_levels} levels, got {len(mlvl_feats)} feature maps')
        feats, poss, lvl_masks, shapes, ratios = [], [], [], [], []
        for lvl, feat in enumerate(mlvl_feats):
            f, c, h, w = feat.shape
            mask = None if masks is None else F.interpolate(masks[None].float(), size=(h, w)).bool()[0]
            pos = self.positional_encoding(mask, input=feat)
            feats.append(feat.flatten(2).transpose(1, 2))
            poss.append(pos.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1))
            shapes.append((h, w))
            if mask is None:
                ratios.append(feat.new_ones((f, 2)))
            else:
                lvl_masks.append(mask.flatten(1))
                ratios.append(DeformableDETR.get_valid_ratio(mask))
        spatial_shapes = shapes_tensor(shapes, mlvl_feats[0].device)
        level_start_index = torch.cat((spatial_shapes.new_zeros((1,)), spatial_shapes.prod(1).cumsum(0)[:-1]))
        return dict(feat=torch.cat(feats, 1), feat_pos=torch.cat(poss, 1),
                    feat_mask=torch.cat(lvl_masks, 1) if lvl_masks else None, spatial_shapes=spatial_shapes,
                    level_shapes=tuple(shapes),
                    level_start_index=level_start_index, valid_ratios=torch.stack(ratios, 1))

    def forward(self, mlvl_feats: Tuple[Tensor, ...], masks: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Encode F frames.

        Args:
            mlvl_feats: L levels, each (F, C, H_l, W_l). masks: (F, H, W) True on padding, or None.

        Returns:
            dict: the :meth:`pre_transformer` entries and ``memory`` (F, S, C).
        """
        enc_in = self.pre_transformer(mlvl_feats, masks)
        query, shapes, ratios = enc_in['feat'], enc_in['level_shapes'], enc_in['valid_ratios']
        reference_points = self.reference_points(shapes, ratios)
        for layer in self.layers:
            query = layer(query=query, query_pos=enc_in['feat_pos'], key_padding_mask=enc_in['feat_mask'],
                          spatial_shapes=shapes, level_start_index=enc_in['level_start_index'], valid_ratios=ratios,
                          reference_points=reference_points)
        return dict(enc_in, memory=query)

    @staticmethod
    def reference_points(level_shapes: LevelShapes, valid_ratios: Tensor) -> Tensor:
        """mmdet's encoder reference points (``get_encoder_reference_points``, bitwise equal) from int sizes.

        Cell centres ``arange(n) + 0.5`` are mmdet's ``linspace(0.5, n - 0.5, n)`` exactly (a step of 1.0), without
        the tensor-valued sizes that ``torch.export`` cannot trace.

        Args:
            level_shapes: L (H_l, W_l). valid_ratios: (F, L, 2) (w, h) valid fractions.

        Returns:
            Tensor: (F, S, L, 2) (x, y) in [0, 1] of the valid area, per level.
        """
        refs = []
        for lvl, (h, w) in enumerate(level_sizes(level_shapes)):
            ys = torch.arange(h, dtype=torch.float32, device=valid_ratios.device) + 0.5
            xs = torch.arange(w, dtype=torch.float32, device=valid_ratios.device) + 0.5
            ref_y, ref_x = torch.meshgrid(ys, xs, indexing='ij')
            ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * h)
            ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * w)
            refs.append(torch.stack((ref_x, ref_y), -1))
        return torch.cat(refs, 1)[:, :, None] * valid_ratios[:, None]

    @staticmethod
    def level_maps(flat: Tensor, spatial_shapes: LevelShapes, level: int) -> Tensor:
        """One level of a flattened (F, S, C) tensor (``memory``, ``feat_pos``) as maps (F, C, H_l, W_l); its start
        follows from the level sizes."""
        h, w = level_sizes(spatial_shapes)[level]
        start = level_starts(spatial_shapes)[level]
        return flat[:, start:start + h * w].transpose(1, 2).reshape(flat.shape[0], -1, h, w)
