"""VisTR's instance sequence segmentation head (Wang et al., CVPR 2021, Sec. 3.3)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import DeformConv2d
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers.grid_sample_deform_conv import GridSampleDeformConv2d


class MultiHeadAttentionMap(nn.Module):
    """DETR's attention maps of queries over a feature map, without the value product.

    The logits of one query over all heads and positions share one softmax (heads x h x w jointly), so the
    ``num_heads`` maps of a query sum to 1 together. Keys are a 1x1 convolution with ``k_linear``'s weights.

    Args:
        embed_dims: query and feature width. num_heads: maps per query.
    """

    def __init__(self, embed_dims: int = 384, num_heads: int = 8) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_linear = nn.Linear(embed_dims, embed_dims)
        self.k_linear = nn.Linear(embed_dims, embed_dims)
        self.scale = float(embed_dims / num_heads) ** -0.5

    def init_weights(self) -> None:
        for linear in (self.q_linear, self.k_linear):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, queries: Tensor, feats: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            queries: (B, Q, C). feats: (B, C, h, w). mask: (B, h, w) True on padding, or None.

        Returns:
            Tensor: (B, Q, num_heads, h, w) attention weights.
        """
        b, q, c = queries.shape
        h, w = feats.shape[-2:]
        heads = self.num_heads
        qh = self.q_linear(queries).view(b, q, heads, c // heads)
        kh = F.conv2d(feats, self.k_linear.weight[:, :, None, None], self.k_linear.bias)
        kh = kh.view(b, heads, c // heads, h, w)
        logits = torch.einsum('bqnc,bnchw->bqnhw', qh * self.scale, kh)
        if mask is not None:
            logits = logits.masked_fill(mask[:, None, None], float('-inf'))
        return logits.flatten(2).softmax(-1).view(b, q, heads, h, w)


@MODELS.register_module()
class VisTRMaskHead(BaseModule):
    """Mask logits of VisTR's instance sequences from the last decoder layer's frame-major queries.

    Per frame t, for the frame's P queries: :class:`MultiHeadAttentionMap` over the frame's encoder memory;
    ``cat(memory, maps)`` (C + heads channels) -> lay1, lay2 (3x3 conv, GN(8), ReLU) -> three FPN steps
    (nearest-upsample, add a 1x1 adapter of the frame's raw backbone C4 / C3 / C2, then lay3 / lay4 3x3 +
    GN + ReLU, the last step without a conv) -> ``conv_offset`` (1x1, 18 offsets) -> DCNv1 3x3 -> GN(8) +
    ReLU: ``out_channels`` (24) features per query at stride 4. Per slot j (queries j, P + j, 2P + j, ...): the
    T frames' features as a (24, T, H4, W4) volume -> 3 x [Conv3d k3 dilation 2 (T, H, W), GN(4), ReLU] ->
    Conv3d 1x1x1 -> (T, H4, W4) mask logits. Frames of different parity interact only through the GroupNorm
    statistics of the 3D head.

    Args:
        embed_dims: width of queries and memory (384). num_heads: attention maps per query (8).
        fpn_channels: channels of the backbone's C4, C3, C2 (1024, 512, 256).
        out_channels: per-frame features per query (24). inst_channels: 3D head width (12).
        deform_conv: ``'mmcv'`` (mmcv's ``DeformConv2d`` kernel) or ``'pytorch'``
            (:class:`GridSampleDeformConv2d`; ONNX export, reference). Same ``dcn.weight`` either way.
        im2col_step: mmcv's samples per im2col call; larger batches are split into chunks of it.
        scale_attention_maps: multiply the attention maps by heads x h x w (their mean becomes 1) before lay1.
            Off in the official model, whose maps (each ~1 / (heads * h * w)) are the only per-query input of
            the head next to the memory shared by all queries: a head that starts from DETR's COCO-trained weights
            has learnt to read them, one trained from scratch gives every slot the same mask (the union of the
            objects) for thousands of iterations. On, the maps enter lay1 at the scale of the memory.
    """

    def __init__(self, embed_dims: int = 384, num_heads: int = 8, fpn_channels: Sequence[int] = (1024, 512, 256),
                 out_channels: int = 24, inst_channels: int = 12, deform_conv: str = 'mmcv', im2col_step: int = 64,
                 scale_attention_maps: bool = False, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if deform_conv not in ('mmcv', 'pytorch'):
            raise ValueError(f"deform_conv must be 'mmcv' or 'pytorch', got {deform_conv!r}")
        self.deform_conv = deform_conv
        self.im2col_step = im2col_step
        self.scale_attention_maps = scale_attention_maps
        dim = embed_dims + num_heads
        inter = [embed_dims // 2, embed_dims // 4, embed_dims // 8]
        self.bbox_attention = MultiHeadAttentionMap(embed_dims, num_heads)
        self.lay1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.gn1 = nn.GroupNorm(8, dim)
        self.lay2 = nn.Conv2d(dim, inter[0], 3, padding=1)
        self.gn2 = nn.GroupNorm(8, inter[0])
        self.lay3 = nn.Conv2d(inter[0], inter[1], 3, padding=1)
        self.gn3 = nn.GroupNorm(8, inter[1])
        self.lay4 = nn.Conv2d(inter[1], inter[2], 3, padding=1)
        self.gn4 = nn.GroupNorm(8, inter[2])
        self.adapter1 = nn.Conv2d(fpn_channels[0], inter[0], 1)
        self.adapter2 = nn.Conv2d(fpn_channels[1], inter[1], 1)
        self.adapter3 = nn.Conv2d(fpn_channels[2], inter[2], 1)
        self.conv_offset = nn.Conv2d(inter[2], 2 * 3 * 3, 1)
        dcn_type = DeformConv2d if deform_conv == 'mmcv' else GridSampleDeformConv2d
        dcn_kwargs = dict(im2col_step=im2col_step) if deform_conv == 'mmcv' else {}
        self.dcn = dcn_type(inter[2], out_channels, 3, padding=1, bias=False, **dcn_kwargs)
        self.gn5 = nn.GroupNorm(8, out_channels)
        c = inst_channels
        self.insmask_head = nn.Sequential(
            nn.Conv3d(out_channels, c, 3, padding=2, dilation=2), nn.GroupNorm(4, c), nn.ReLU(),
            nn.Conv3d(c, c, 3, padding=2, dilation=2), nn.GroupNorm(4, c), nn.ReLU(),
            nn.Conv3d(c, c, 3, padding=2, dilation=2), nn.GroupNorm(4, c), nn.ReLU(),
            nn.Conv3d(c, 1, 1))

    def init_weights(self) -> None:
        """Official init: DETR's (xavier, zero bias) attention map, kaiming_uniform(a=1) and zero bias on the 2D
        convs, a zero ``conv_offset`` (a fresh DCN is a plain conv), the DCN's kaiming_uniform(relu); the 3D head
        keeps PyTorch's default init."""
        super().init_weights()
        self.bbox_attention.init_weights()
        for conv in (self.lay1, self.lay2, self.lay3, self.lay4, self.adapter1, self.adapter2, self.adapter3):
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)
        self.dcn.reset_parameters()

    def deform(self, x: Tensor, offset: Tensor) -> Tensor:
        """The DCN on (B, 48, H4, W4) with offsets (B, 18, H4, W4) -> (B, 24, H4, W4).

        mmcv asserts that the batch is a multiple of min(im2col_step, batch): larger batches go in chunks.
        """
        if self.deform_conv == 'pytorch' or x.shape[0] <= self.im2col_step:
            return self.dcn(x, offset)
        return torch.cat([self.dcn(xs, offs) for xs, offs in
                          zip(x.split(self.im2col_step), offset.split(self.im2col_step))])

    @staticmethod
    def fuse(x: Tensor, lateral: Tensor) -> Tensor:
        """Nearest-upsample x (B, c, h, w) to the size of lateral (1 or B, c, H, W) and add it."""
        return lateral + F.interpolate(x, size=lateral.shape[-2:], mode='nearest')

    def frame_features(self, queries: Tensor, memory: Tensor, fpn_feats: Sequence[Tensor],
                       mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Per-query features of one frame.

        Args:
            queries: (P, C) the frame's queries. memory: (C, h, w) the frame's encoder output.
            fpn_feats: the frame's backbone C4 (1024, H16, W16), C3 (512, H8, W8), C2 (256, H4, W4).
            mask: (h, w) True on padding, or None.

        Returns:
            tuple: features (P, out_channels, H4, W4) and attention maps (P, num_heads, h, w).
        """
        p = queries.shape[0]
        attn = self.bbox_attention(queries[None], memory[None], None if mask is None else mask[None])[0]
        maps = attn * attn[0].numel() if self.scale_attention_maps else attn
        x = torch.cat([memory[None].expand(p, -1, -1, -1), maps], 1)
        x = F.relu(self.gn1(self.lay1(x)))
        x = F.relu(self.gn2(self.lay2(x)))
        c4, c3, c2 = (f[None] for f in fpn_feats)
        x = F.relu(self.gn3(self.lay3(self.fuse(x, self.adapter1(c4)))))
        x = F.relu(self.gn4(self.lay4(self.fuse(x, self.adapter2(c3)))))
        x = self.fuse(x, self.adapter3(c2))
        x = self.deform(x, self.conv_offset(x))
        return F.relu(self.gn5(x)), attn

    def frames_features(self, queries: Tensor, memory: Tensor, fpn_feats: Sequence[Tensor],
                        mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """:meth:`frame_features` of T frames, one frame at a time (bounded memory).

        Args:
            queries: (T, P, C). memory: (T, C, h, w). fpn_feats: C4, C3, C2 of the T frames, (T, C_l, h_l, w_l).
            mask: (T, h, w) or None.

        Returns:
            tuple: features (T, P, out_channels, H4, W4), attention maps (T, P, num_heads, h, w).
        """
        feats, attns = [], []
        for t in range(queries.shape[0]):
            feat, attn = self.frame_features(queries[t], memory[t], [f[t] for f in fpn_feats],
                                             None if mask is None else mask[t])
            feats.append(feat)
            attns.append(attn)
        return torch.stack(feats), torch.stack(attns)

    def instance_masks(self, frame_feats: Tensor) -> Tensor:
        """3D head of every slot: frame_feats (T, P, c, H4, W4) -> mask logits (P, T, H4, W4)."""
        volume = frame_feats.permute(1, 2, 0, 3, 4)  # (P, c, T, H4, W4): slots as the batch
        return self.insmask_head(volume)[:, 0]

    def forward(self, queries: Tensor, memory: Tensor, fpn_feats: Sequence[Tensor],
                mask: Optional[Tensor] = None) -> Tensor:
        """Mask logits of one clip's P slots: inputs as :meth:`frames_features` -> (P, T, H4, W4)."""
        return self.instance_masks(self.frames_features(queries, memory, fpn_feats, mask)[0])
