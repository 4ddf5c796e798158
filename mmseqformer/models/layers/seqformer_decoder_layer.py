"""One SeqFormer decoder layer: an instance query per object, decomposed into per-frame box queries."""
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.utils import ConfigType, OptConfigType
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from .seqformer_msda import SeqFormerMSDeformAttn


class SeqFormerDecoderLayer(BaseModule):
    """Query-decomposed decoder layer (paper Sec. 3.2, Eq. 1-3).

    Per layer: instance self-attention; box self-attention per frame (shared weights); deformable
    cross-attention whose sampling is driven by each frame's box query; box update and box FFN; then
    the instance query adds a softmax-over-frames weighted sum of the per-frame attention outputs and
    runs its own FFN. All sub-blocks are post-norm with dropout on the residual branch.

    Norm order follows the data flow: ``norms[0]`` after instance self-attention, ``norms[1]`` after
    temporal aggregation, ``norms[2]`` after the instance FFN; ``box_norms`` likewise for the box query.
    """

    def __init__(self,
                 self_attn_cfg: ConfigType = dict(embed_dims=256, num_heads=8, dropout=0.1, batch_first=True),
                 cross_attn_cfg: ConfigType = dict(embed_dims=256, num_heads=8, num_levels=4, num_points=4,
                                                   batch_first=True),
                 ffn_cfg: ConfigType = dict(embed_dims=256, feedforward_channels=1024, num_fcs=2, ffn_drop=0.1,
                                            act_cfg=dict(type='ReLU', inplace=True)),
                 norm_cfg: ConfigType = dict(type='LN'),
                 dropout: float = 0.1,
                 infer_frame_chunk: Optional[int] = 16,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # Outside training the per-frame blocks (box self-attention, deformable cross-attention) run on chunks of
        # this many frames: their transients (Q x Q attention maps, the value projection of the memory) grow with
        # the frame count, and frames are independent in them, so chunking changes no result. None: no chunks (an
        # exported graph, whose frame count is dynamic, cannot branch on it).
        self.infer_frame_chunk = infer_frame_chunk
        self.self_attn = MultiheadAttention(**self_attn_cfg)
        self.self_attn_box = MultiheadAttention(**self_attn_cfg)
        self.cross_attn = SeqFormerMSDeformAttn(**cross_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**ffn_cfg)
        self.ffn_box = FFN(**ffn_cfg)
        self.norms = ModuleList([build_norm_layer(norm_cfg, self.embed_dims)[1] for _ in range(3)])
        self.box_norms = ModuleList([build_norm_layer(norm_cfg, self.embed_dims)[1] for _ in range(3)])
        # Its bias is a no-op under the softmax over frames (zero gradient), kept for checkpoint parity.
        self.time_attention_weights = nn.Linear(self.embed_dims, 1)
        self.dropout_inst = nn.Dropout(dropout)
        self.dropout_box = nn.Dropout(dropout)

    def box_self_attention(self, box_query: Tensor, query_pos: Tensor) -> Tensor:
        """Self-attention among the queries of each frame.

        Args:
            box_query: (B, Q, C) before the first layer's box update (one query for all frames) or
                (B, T, Q, C) per frame.
            query_pos: (B, Q, C).
        """
        if box_query.dim() == 3:
            return self.box_norms[0](self.self_attn_box(box_query, query_pos=query_pos))
        b, t, q, c = box_query.shape
        flat = box_query.reshape(b * t, q, c)
        pos = query_pos[:, None].expand(b, t, q, c).reshape(b * t, q, c)
        out = self.per_frame_chunks(lambda x, p: self.self_attn_box(x, query_pos=p), flat, pos)
        return self.box_norms[0](out).view(b, t, q, c)

    def per_frame_chunks(self, fn, *frames: Optional[Tensor]):
        """``fn(*frames)`` on all frames in training, else on chunks of ``infer_frame_chunk`` frames, concatenated.

        Args:
            frames: tensors (or None) whose first dimension is B*T.

        Returns:
            what ``fn`` returns (a tensor or a tuple of tensors), concatenated over the chunks.
        """
        n, step = frames[0].shape[0], self.infer_frame_chunk
        if self.training or step is None or n <= step:
            return fn(*frames)
        parts = [fn(*(None if f is None else f[i:i + step] for f in frames)) for i in range(0, n, step)]
        if isinstance(parts[0], tuple):
            return tuple(torch.cat(p) for p in zip(*parts))
        return torch.cat(parts)

    def temporal_aggregation(self, box_query: Tensor, frame_outputs: Tensor) -> Tensor:
        """Eq. (3): weights from each frame's box query, softmax over frames.

        Args:
            box_query: (B, T, Q, C) after the box FFN.
            frame_outputs: (B, T, Q, C) ``output_proj`` of each frame's sampled features.

        Returns:
            Tensor: (B, Q, C).
        """
        weights = self.time_attention_weights(box_query).softmax(dim=1)
        return (weights * frame_outputs).sum(dim=1)

    def forward(self, inst_query: Tensor, box_query: Tensor, query_pos: Tensor, value: Tensor,
                key_padding_mask: Optional[Tensor], reference_points: Tensor, spatial_shapes: Tensor,
                level_start_index: Tensor, num_frames: int) -> Tuple[Tensor, Tensor]:
        """
        Args:
            inst_query: (B, Q, C) instance queries.
            box_query: (B, Q, C) in the first layer, (B, T, Q, C) afterwards.
            query_pos: (B, Q, C), shared by instance and box queries and all frames.
            value: (B*T, S, C) encoder memory, video-major.
            key_padding_mask: (B*T, S) True on padding, or None.
            reference_points: (B*T, Q, L, 2|4) scaled by valid ratios.
            spatial_shapes: (L, 2). level_start_index: (L,).
            num_frames: T.

        Returns:
            tuple: instance queries (B, Q, C), box queries (B, T, Q, C).
        """
        b, q, c = inst_query.shape
        t = num_frames
        inst_query = self.norms[0](self.self_attn(inst_query, query_pos=query_pos))
        box_query = self.box_self_attention(box_query, query_pos)

        # The first layer has one box query for all frames, so its offsets are shared over T.
        box_per_frame = box_query if box_query.dim() == 4 else box_query[:, None].expand(b, t, q, c)
        pos_per_frame = query_pos[:, None].expand(b, t, q, c)
        out_inst, out_box = self.per_frame_chunks(
            lambda *x: self.cross_attn(*x, spatial_shapes, level_start_index),
            box_per_frame.reshape(b * t, q, c), pos_per_frame.reshape(b * t, q, c), value, key_padding_mask,
            reference_points)
        out_inst, out_box = out_inst.view(b, t, q, c), out_box.view(b, t, q, c)

        if box_query.dim() == 3:
            box_query = box_query[:, None]
        box_query = self.box_norms[1](box_query + self.dropout_box(out_box))
        box_query = self.box_norms[2](self.ffn_box(box_query))

        inst_query = self.norms[1](inst_query + self.dropout_inst(self.temporal_aggregation(box_query, out_inst)))
        inst_query = self.norms[2](self.ffn(inst_query))
        return inst_query, box_query
