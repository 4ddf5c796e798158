"""The inter-frame attention neck of the ObjProp follow-up study: each FPN level of the current frame attends to the
same level of a reference frame (NeckAttn branch of github.com/Allamrahul/ObjProp)."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class InterFrameAttnNeck(BaseModule):
    """``out = gamma * A + cur`` per level, one set of weights shared by all levels.

    ``corr = softmax_ref(relu(conv1(ref))^T relu(conv1(cur)))`` weighs, for each current position ``j``, the reference
    positions ``i`` (no 1/sqrt(C) scaling); ``A[:, j] = sum_i relu(conv2(cur))[:, i] corr[i, j]``: the values come from
    the current frame itself, at the positions that resemble what the reference frame has there. ``gamma`` is
    learnable and starts at 0.5.

    Args:
        channels: FPN channels (input = output).
        gamma_init: the initial ``gamma``.
    """

    def __init__(self, channels: int = 256, gamma_init: float = 0.5,
                 init_cfg: dict = dict(type='Xavier', layer='Conv2d', distribution='uniform', gain=1.0, bias=0.0)):
        super().__init__(init_cfg=init_cfg)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.gamma = nn.Parameter(torch.full((1,), float(gamma_init)))

    def correlation(self, cur: Tensor, ref: Tensor) -> Tensor:
        """cur, ref (B, C, H, W) -> corr (B, H*W ref, H*W cur), each column a softmax over the reference positions."""
        key = F.relu(self.conv1(cur)).flatten(2)
        query = F.relu(self.conv1(ref)).flatten(2)
        return torch.bmm(query.transpose(1, 2), key).softmax(dim=1)

    def attention(self, cur: Tensor, ref: Tensor) -> Tensor:
        """A: cur, ref (B, C, H, W) -> (B, C, H, W), the current frame's values gathered by ``corr``."""
        value = F.relu(self.conv2(cur)).flatten(2)  # (B, C, HW)
        return torch.bmm(value, self.correlation(cur, ref)).view_as(cur)

    def attend(self, cur: Tensor, ref: Tensor) -> Tensor:
        """One level: cur, ref (B, C, H, W) -> gamma * A + cur (B, C, H, W)."""
        return self.gamma * self.attention(cur, ref) + cur

    def forward(self, feats: Sequence[Tensor], ref_feats: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """FPN levels of the current and the reference frame, each (B, C, H_l, W_l) -> the attended levels."""
        if len(feats) != len(ref_feats):
            raise ValueError(f'{len(feats)} current levels but {len(ref_feats)} reference levels')
        return tuple(self.attend(cur, ref) for cur, ref in zip(feats, ref_feats))
