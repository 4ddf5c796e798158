"""mmdet's DETR post-norm encoder and decoder whose attention never materialises its weights.

mmcv's ``MultiheadAttention`` calls ``torch.nn.MultiheadAttention`` with the default ``need_weights=True``, which
builds and returns the (batch, queries, keys) attention matrix even though the caller drops it; for VisTR's
encoder (T*h*w = 6,120 tokens at 36 frames of 300x540) that is about 150 MB per head and layer. These classes
are mmdet's ``DetrTransformerEncoder``/``DetrTransformerDecoder`` with the same parameters, state-dict keys and
results, built on an attention that asks torch for the output only (its fused scaled-dot-product path).
"""
from typing import Optional

from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.models.layers import (DetrTransformerDecoder, DetrTransformerDecoderLayer, DetrTransformerEncoder,
                                 DetrTransformerEncoderLayer)
from mmdet.registry import MODELS
from mmengine.model import ModuleList
from mmcv.cnn import build_norm_layer
from torch import Tensor


@MODELS.register_module()
class NoWeightsMultiheadAttention(MultiheadAttention):
    """mmcv ``MultiheadAttention`` (same arguments and keys) that does not compute the attention weights."""

    def forward(self, query: Tensor, key: Optional[Tensor] = None, value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None, query_pos: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None, attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None, **kwargs) -> Tensor:
        """``identity + dropout(attn(query + query_pos, key + key_pos, value))``.

        Args:
            query: (N, Lq, C) if ``batch_first`` else (Lq, N, C). key, value: (N, Lk, C) (or (Lk, N, C));
                default ``query`` and ``key``.
            query_pos, key_pos: like query and key, added to them (never to value); ``key_pos`` defaults to
                ``query_pos`` when the shapes agree.
            attn_mask: (Lq, Lk). key_padding_mask: (N, Lk) True on padding.

        Returns:
            Tensor: like ``query``.
        """
        key = query if key is None else key
        value = key if value is None else value
        identity = query if identity is None else identity
        if key_pos is None and query_pos is not None and query_pos.shape == key.shape:
            key_pos = query_pos
        if query_pos is not None:
            query = query + query_pos
        if key_pos is not None:
            key = key + key_pos
        if self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        out = self.attn(query, key, value, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                        need_weights=False)[0]
        if self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))


@MODELS.register_module()
class NoWeightsDetrTransformerEncoderLayer(DetrTransformerEncoderLayer):
    """mmdet's post-norm DETR encoder layer on :class:`NoWeightsMultiheadAttention`."""

    def _init_layers(self) -> None:
        self.self_attn = NoWeightsMultiheadAttention(**self.self_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList([build_norm_layer(self.norm_cfg, self.embed_dims)[1] for _ in range(2)])


@MODELS.register_module()
class NoWeightsDetrTransformerDecoderLayer(DetrTransformerDecoderLayer):
    """mmdet's post-norm DETR decoder layer on :class:`NoWeightsMultiheadAttention`."""

    def _init_layers(self) -> None:
        self.self_attn = NoWeightsMultiheadAttention(**self.self_attn_cfg)
        self.cross_attn = NoWeightsMultiheadAttention(**self.cross_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList([build_norm_layer(self.norm_cfg, self.embed_dims)[1] for _ in range(3)])


@MODELS.register_module()
class NoWeightsDetrTransformerEncoder(DetrTransformerEncoder):
    """mmdet's ``DetrTransformerEncoder`` (no final norm) of :class:`NoWeightsDetrTransformerEncoderLayer`.

    ``forward(query (N, L, C), query_pos (N, L, C), key_padding_mask (N, L) or None) -> (N, L, C)``.
    """

    def _init_layers(self) -> None:
        if self.num_cp > 0:
            raise NotImplementedError('activation checkpointing (num_cp) is not supported here')
        self.layers = ModuleList([NoWeightsDetrTransformerEncoderLayer(**self.layer_cfg)
                                  for _ in range(self.num_layers)])
        self.embed_dims = self.layers[0].embed_dims


@MODELS.register_module()
class NoWeightsDetrTransformerDecoder(DetrTransformerDecoder):
    """mmdet's ``DetrTransformerDecoder`` of :class:`NoWeightsDetrTransformerDecoderLayer`.

    ``forward(query, key, value, query_pos, key_pos, key_padding_mask) -> (num_layers, N, Q, C)`` with
    ``return_intermediate`` (every layer's output after the shared final ``post_norm``), else (1, N, Q, C).
    """

    def _init_layers(self) -> None:
        self.layers = ModuleList([NoWeightsDetrTransformerDecoderLayer(**self.layer_cfg)
                                  for _ in range(self.num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.post_norm = build_norm_layer(self.post_norm_cfg, self.embed_dims)[1]
