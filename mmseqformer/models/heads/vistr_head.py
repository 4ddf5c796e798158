"""VisTR's prediction heads: per-query class logits and boxes of the frame-major instance queries."""
from typing import Tuple

from mmdet.models.layers import MLP
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from mmdet.utils import OptMultiConfig
from torch import Tensor, nn


@MODELS.register_module()
class VisTRHead(BaseModule):
    """Class and box branches of VisTR (Wang et al., CVPR 2021), shared by all decoder layers.

    Logit columns follow the official label convention: column 0 is the "absent frame" label of training
    targets, column ``c`` (1..num_classes) is our label ``c - 1``, column ``num_classes + 1`` is no-object.

    Args:
        num_classes: object classes (40 on YouTube-VIS 2019). embed_dims: query width (384).
    """

    def __init__(self, num_classes: int = 40, embed_dims: int = 384, init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.fc_cls = nn.Linear(embed_dims, num_classes + 2)
        self.fc_reg = MLP(embed_dims, embed_dims, 4, 3)

    def forward(self, hs: Tensor) -> Tuple[Tensor, Tensor]:
        """hs (L, N, Q, C) decoder outputs -> logits (L, N, Q, num_classes + 2), boxes (L, N, Q, 4) cxcywh in [0, 1]."""
        return self.fc_cls(hs), self.fc_reg(hs).sigmoid()
