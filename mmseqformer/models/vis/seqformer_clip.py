"""SeqFormer's decoding of one clip: class scores, instance embeddings and references, masks on demand."""
from typing import Callable, Tuple

from torch import Tensor

from ..utils.mask_resize import threshold_mask_logits
from .clip_decoding import ClipDecoding

# (inst_queries (k, C), reference (t, k, 2|4), mask_feats (t, c, H8, W8), img_hw) -> (k, t, 2*H8, 2*W8) mask logits
VideoMasksFn = Callable[[Tensor, Tensor, Tensor, Tuple[int, int]], Tensor]
# (mask logits (k, t, h4, w4), meta, rescale) -> (k, t, H, W) logits at the output size
ResizeFn = Callable[[Tensor, dict, bool], Tensor]


class SeqFormerClip(ClipDecoding):
    """Class scores and dynamic-conv masks of SeqFormer's instance queries on one clip.

    The network parts come as tensors and functions, so that the PyTorch model (its head) and an exported one
    (its graphs, :mod:`mmseqformer.deploy`) share the selection, slicing, resizing and thresholding here.

    Args:
        scores: (Q, K) class probabilities. inst_queries: (Q, C) last layer's instance queries.
        reference: (T, Q, 2|4) last layer's input reference. mask_feats: (T, c, H8, W8) mask branch output of the
            clip's frames. meta: ``img_shape``, ``ori_shape`` (and ``batch_input_shape`` for padded frames) of the
            clip's first frame.
        video_masks: the head's ``video_masks``. resize: the head's ``resize_masks``. mask_thr: mask threshold.
    """

    def __init__(self, scores: Tensor, inst_queries: Tensor, reference: Tensor, mask_feats: Tensor, meta: dict,
                 video_masks: VideoMasksFn, resize: ResizeFn, mask_thr: float) -> None:
        self.scores, self.embeds, self.reference, self.mask_feats, self.meta = (scores, inst_queries, reference,
                                                                                 mask_feats, meta)
        self.video_masks, self.resize, self.mask_thr = video_masks, resize, mask_thr
        self.num_frames = mask_feats.shape[0]

    def mask_logits(self, query_inds: Tensor, start: int, stop: int) -> Tensor:
        """(k, stop - start, 2*H8, 2*W8) mask logits at 1/4 of the (padded) input."""
        return self.video_masks(self.embeds[query_inds], self.reference[start:stop, query_inds],
                                self.mask_feats[start:stop], tuple(self.meta['img_shape'][:2]))

    def logits_to_masks(self, logits: Tensor, rescale: bool) -> Tensor:
        return threshold_mask_logits(self.resize(logits, self.meta, rescale), self.mask_thr)
