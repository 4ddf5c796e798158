"""VisTR's 3D sine positional encoding: separate (z, y, x) codes concatenated along channels."""
import math

import torch
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor


@MODELS.register_module()
class VisTRSinePositionalEncoding3D(BaseModule):
    """Sine codes of the frame index (z) and the pixel row (y) and column (x), ``num_feats`` channels each.

    Each coordinate is the cumulative count of non-padding positions along its axis (1-based), optionally
    divided by the last one (+ ``eps``) and multiplied by ``scale``; channel ``2i`` holds ``sin(c / d_i)`` and
    ``2i + 1`` holds ``cos(c / d_i)`` with ``d_i = temperature ** (2i / num_feats)``. The three codes are
    concatenated in the order (z, y, x). This differs from mmdet's ``SinePositionalEncoding3D``, which adds a
    z code to the concatenated (y, x) codes.

    The codes are computed in float32 whatever the model's dtype (as the official model does).

    Args:
        num_feats: channels per axis (embed_dims / 3; even).
        temperature: base of the frequencies.
        normalize: scale each coordinate to (0, ``scale``].
        scale: the range after normalisation (2 pi).
        eps: added to the normaliser.
    """

    def __init__(self, num_feats: int = 128, temperature: int = 10000, normalize: bool = True,
                 scale: float = 2 * math.pi, eps: float = 1e-6, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_feats % 2:
            raise ValueError(f'num_feats must be even (sin/cos pairs), got {num_feats}')
        self.num_feats = num_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale
        self.eps = eps

    def forward(self, mask: Tensor) -> Tensor:
        """Codes of every position of N clips.

        Args:
            mask: (N, T, H, W) bool, True on padding.

        Returns:
            Tensor: (N, T, 3 * num_feats, H, W) float32, channels (z, y, x).
        """
        not_mask = (~mask).to(torch.float32)
        coords = [not_mask.cumsum(dim) for dim in (1, 2, 3)]
        if self.normalize:
            coords = [c / (c.narrow(dim, c.shape[dim] - 1, 1) + self.eps) * self.scale
                      for c, dim in zip(coords, (1, 2, 3))]
        dim_t = torch.arange(self.num_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / self.num_feats)
        codes = []
        for c in coords:
            phase = c[..., None] / dim_t  # (N, T, H, W, num_feats)
            codes.append(torch.stack((phase[..., 0::2].sin(), phase[..., 1::2].cos()), dim=5).flatten(4))
        return torch.cat(codes, dim=4).permute(0, 1, 4, 2, 3).contiguous()

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_feats={self.num_feats}, temperature={self.temperature}, '
                f'normalize={self.normalize}, scale={self.scale}, eps={self.eps})')
