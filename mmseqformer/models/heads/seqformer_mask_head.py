"""Dynamic-convolution mask head of SeqFormer (CondInst-style, paper Sec. 3.3, Eq. 4)."""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.layers import MLP
from mmdet.models.utils import aligned_bilinear
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers.level_shapes import LevelShapes, level_sizes, level_starts


@MODELS.register_module()
class SeqFormerMaskHead(BaseModule):
    """Turns a video-level instance embedding into a mask logit map on every frame.

    A controller MLP maps the instance query to the weights of a tiny 1x1 conv network; a shared
    mask branch fuses the encoder memory of the stride 8/16/32 levels into ``mask_channels`` maps
    per frame; the dynamic network runs on those maps plus each pixel's position relative to the
    instance's reference point in that frame (raw pixels of the unpadded image, ``ref - location``).

    Args:
        embed_dims: width of queries and memory.
        mask_channels: channels of the mask branch output (8).
        dynamic_channels: hidden width of the dynamic convs (8).
        num_dynamic_layers: 1x1 convs in the dynamic network (3).
        rel_coord: feed the 2 relative-coordinate channels.
        feat_stride: stride of the mask branch output (8).
    """

    def __init__(self, embed_dims: int = 256, mask_channels: int = 8, dynamic_channels: int = 8,
                 num_dynamic_layers: int = 3, rel_coord: bool = True, feat_stride: int = 8,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.rel_coord = rel_coord
        self.feat_stride = feat_stride
        in_ch = mask_channels + (2 if rel_coord else 0)
        chans = [in_ch] + [dynamic_channels] * (num_dynamic_layers - 1) + [1]
        self.weight_shapes: List[Tuple[int, int]] = [(o, i) for i, o in zip(chans[:-1], chans[1:])]
        self.num_params = sum(o * i + o for o, i in self.weight_shapes)
        self.controller = MLP(embed_dims, embed_dims, self.num_params, 3)
        # Mask branch: top-down fusion of memory levels (3x3 convs, no norm).
        self.conv_p32 = nn.Conv2d(embed_dims, embed_dims, 3, padding=1)
        self.conv_p16 = nn.Conv2d(embed_dims, embed_dims, 3, padding=1)
        self.conv_p8 = nn.Conv2d(embed_dims, embed_dims, 3, padding=1)
        self.conv_reduce = nn.Conv2d(embed_dims, 64, 3, padding=1)
        self.conv_out = nn.Conv2d(64, mask_channels, 3, padding=1)

    def init_weights(self) -> None:
        for layer in self.controller.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        for conv in (self.conv_p32, self.conv_p16, self.conv_p8, self.conv_reduce, self.conv_out):
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.zeros_(conv.bias)
        self._is_init = True

    def mask_features(self, memory: Tensor, spatial_shapes: LevelShapes) -> Tensor:
        """Mask branch on the encoder memory of each frame.

        Args:
            memory: (F, S, C) encoder output of F frames.
            spatial_shapes: (L, 2) tensor or L (H_l, W_l) int pairs; levels 0-2 (strides 8, 16, 32) are used
                (each level's start in the memory follows from the sizes).

        Returns:
            Tensor: (F, mask_channels, H8, W8).
        """
        n, _, c = memory.shape
        levels = []
        for (h, w), start in list(zip(level_sizes(spatial_shapes), level_starts(spatial_shapes)))[:3]:
            levels.append(memory[:, start:start + h * w].transpose(1, 2).reshape(n, c, h, w))
        p8, p16, p32 = levels
        x = F.relu(self.conv_p32(p32))
        x = F.relu(self.conv_p16(p16 + F.interpolate(x, size=p16.shape[-2:], mode='nearest')))
        x = F.relu(self.conv_p8(p8 + F.interpolate(x, size=p8.shape[-2:], mode='nearest')))
        x = F.relu(self.conv_reduce(x))
        return F.relu(self.conv_out(x))

    def parse_dynamic_params(self, params: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """Split (n, num_params) into per-layer weights (n, out, in) and biases (n, out, 1) of the 1x1 convs.

        Layout: every layer's weights first, then every layer's biases.
        """
        n = params.shape[0]
        sizes = [o * i for o, i in self.weight_shapes] + [o for o, _ in self.weight_shapes]
        chunks = params.split(sizes, dim=1)
        num_layers = len(self.weight_shapes)
        weights = [w.reshape(n, o, i) for w, (o, i) in zip(chunks[:num_layers], self.weight_shapes)]
        biases = [b.reshape(n, o, 1) for b, (o, _) in zip(chunks[num_layers:], self.weight_shapes)]
        return weights, biases

    def relative_coords(self, ref_xy: Tensor, feat_hw: Tuple[int, int]) -> Tensor:
        """Pixel offsets ``ref - location`` of each instance to every mask-feature cell centre.

        Args:
            ref_xy: (n, T, 2) reference centres in pixels of the unpadded image.
            feat_hw: (H8, W8).

        Returns:
            Tensor: (T, n, 2, H8, W8) channels (x, y).
        """
        h, w = feat_hw
        s = self.feat_stride
        ys = torch.arange(h, dtype=ref_xy.dtype, device=ref_xy.device) * s + s // 2
        xs = torch.arange(w, dtype=ref_xy.dtype, device=ref_xy.device) * s + s // 2
        loc = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], 0)  # (2, H8, W8)
        return (ref_xy[:, :, :, None, None] - loc).transpose(0, 1)

    def forward(self, inst_queries: Tensor, ref_xy: Tensor, mask_feats: Tensor) -> Tensor:
        """Mask logits of n instances of one video.

        Args:
            inst_queries: (n, C) instance embeddings.
            ref_xy: (n, T, 2) reference centres in pixels of the unpadded frames.
            mask_feats: (T, mask_channels, H8, W8) mask branch output of the video's frames.

        Returns:
            Tensor: (n, T, 2*H8, 2*W8) mask logits at 1/4 of the (padded) input resolution.
        """
        n = inst_queries.shape[0]
        t, _, h, w = mask_feats.shape
        if n == 0:
            return mask_feats.new_zeros((0, t, 2 * h, 2 * w))
        weights, biases = self.parse_dynamic_params(self.controller(inst_queries))
        x = mask_feats[:, None].expand(t, n, -1, h, w)
        if self.rel_coord:
            x = torch.cat([self.relative_coords(ref_xy, (h, w)), x], dim=2)
        # each instance's 1x1 convs as one batched matmul (t, n, out, in) @ (t, n, in, H8*W8): a grouped conv would
        # fix the instance count in an exported graph (ONNX Conv's group is an attribute)
        x = x.flatten(3)
        for i, (weight, bias) in enumerate(zip(weights, biases)):
            x = torch.matmul(weight, x) + bias
            if i < len(weights) - 1:
                x = F.relu(x)
        return aligned_bilinear(x.view(t, n, h, w), 2).transpose(0, 1)
