"""MaskTrack R-CNN's RoI embedding head with ObjProp's two test-time differences as options."""
from typing import List, Tuple

import torch.nn.functional as F
from mmdet.models.task_modules.tracking import embed_similarity
from mmdet.models.tracking_heads import RoIEmbedHead
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ObjPropRoIEmbedHead(RoIEmbedHead):
    """mmdet's ``RoIEmbedHead`` (same parameters) with ObjProp's options.

    Args:
        last_fc_relu: ReLU after the last fc (mmdet: True; ObjProp's ``get_track_feats``: False, in training too).
        test_similarity: 'dot_product' (mmdet) or 'cosine' (ObjProp: embeddings L2-normalised at test only).
        **kwargs: ``RoIEmbedHead``'s.
    """

    def __init__(self, last_fc_relu: bool = True, test_similarity: str = 'dot_product', **kwargs) -> None:
        super().__init__(**kwargs)
        if test_similarity not in ('dot_product', 'cosine'):
            raise ValueError(f"test_similarity must be 'dot_product' or 'cosine', got {test_similarity!r}")
        self.last_fc_relu, self.test_similarity = last_fc_relu, test_similarity

    def extract_feat(self, x: Tensor, num_x_per_img: List[int]) -> Tuple[Tensor]:
        """RoI features (N, C, 7, 7) -> embeddings split per image, each (n_i, fc_out_channels)."""
        for conv in self.convs if self.num_convs > 0 else ():
            x = conv(x)
        if self.with_avg_pool:
            x = self.avg_pool(x)
        x = x.flatten(1)
        for i, fc in enumerate(self.fcs if self.num_fcs > 0 else ()):
            x = fc(x)
            if self.last_fc_relu or i < self.num_fcs - 1:
                x = F.relu(x)
        return x.split(num_x_per_img, dim=0)

    def predict_by_feat(self, x_split: Tuple[Tensor], ref_x_split: Tuple[Tensor]) -> List[Tensor]:
        """Per image: (n, 1 + m) logits, column 0 = a new track, the others the similarity to the m references."""
        logits = []
        for one_x, one_ref_x in zip(x_split, ref_x_split):
            similarity = embed_similarity(one_x, one_ref_x, method=self.test_similarity)
            logits.append(F.pad(similarity, (1, 0)))
        return logits

