"""SeqFormer's decoding of one clip: the last decoder layer's instance queries and references, masks on demand."""
from torch import Tensor

from ..heads import SeqFormerHead
from ..utils.mask_resize import threshold_mask_logits
from .clip_decoding import ClipDecoding


class SeqFormerClip(ClipDecoding):
    """Class scores and dynamic-conv masks of SeqFormer's instance queries on one clip.

    Args:
        head: the model's :class:`SeqFormerHead` (class branch, mask head, ``test_cfg.mask_thr``).
        inst_queries: (Q, C) last layer's instance queries. reference: (T, Q, 2|4) last layer's input reference.
        mask_feats: (T, c, H8, W8) mask branch output of the clip's frames. meta: ``img_shape``, ``ori_shape``
            (and ``batch_input_shape`` for padded frames) of the clip's first frame.
    """

    def __init__(self, head: SeqFormerHead, inst_queries: Tensor, reference: Tensor, mask_feats: Tensor,
                 meta: dict) -> None:
        self.head, self.reference, self.mask_feats, self.meta = head, reference, mask_feats, meta
        self.embeds = inst_queries
        self.scores = head.cls_branches[-1](inst_queries).sigmoid()
        self.num_frames = mask_feats.shape[0]

    def mask_logits(self, query_inds: Tensor, start: int, stop: int) -> Tensor:
        """(k, stop - start, 2*H8, 2*W8) mask logits at 1/4 of the (padded) input."""
        return self.head.video_masks(self.embeds[query_inds], self.reference[start:stop, query_inds],
                                     self.mask_feats[start:stop], tuple(self.meta['img_shape'][:2]))

    def logits_to_masks(self, logits: Tensor, rescale: bool) -> Tensor:
        thr = (self.head.test_cfg or {}).get('mask_thr', 0.5)
        return threshold_mask_logits(self.head.resize_masks(logits, self.meta, rescale), thr)

