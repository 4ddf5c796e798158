"""VisTR's decoding of one clip: per instance slot one score and class (the official rule), masks of every frame."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils.mask_resize import resize_mask_logits
from .clip_decoding import ClipDecoding

# The official inference gives a frame no segmentation when the slot's best class probability there is below it.
FRAME_SCORE_THR = 0.001
# Mask logit of such a frame: far below any threshold, and bilinear resizing of a constant keeps it.
NO_MASK_LOGIT = -1e4


def slot_results(logits: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The official per-slot result rule of VisTR's inference on the frames of one clip.

    Probabilities are a softmax over all logit columns with no-object dropped afterwards (column 0, the training
    label of absent frames, stays and can win).

    Args:
        logits: (T, P, K + 2) last-layer logits of the clip's real frames (frame-major queries regrouped).

    Returns:
        scores (P,): mean over frames of the best probability; categories (P,): majority vote of the per-frame
        best columns, ties to the smallest (official ids: 0 absent, c = our label c - 1); frame_ok (P, T): the best
        probability reaches :data:`FRAME_SCORE_THR`.
    """
    probs = logits.softmax(-1)[..., :-1]
    best, arg = probs.max(-1)  # (T, P)
    votes = F.one_hot(arg, probs.shape[-1]).sum(0)  # (P, K + 1)
    return best.mean(0), votes.argmax(-1), (best >= FRAME_SCORE_THR).T


class VisTRClip(ClipDecoding):
    """Scores, embeddings and masks of VisTR's instance slots on one clip.

    ``scores`` (P, K) holds each slot's official score at its voted class and 0 elsewhere; a slot voting for the
    "absent" column 0 has no class of ours and scores 0 everywhere (the official inference reports it with
    category id 0, which no evaluation counts).

    Args:
        logits: (T, P, K + 2) last-layer logits of the real frames. mask_logits: (P, T, h, w) mask logits at 1/4 of the
            (padded) input. embeds: (P, C) slot embeddings (mean over frames of the last decoder layer).
        meta: ``img_shape``, ``ori_shape`` (and ``batch_input_shape`` when padded). mask_thr: mask probability
            threshold (0.5 official).
    """

    def __init__(self, logits: Tensor, mask_logits: Tensor, embeds: Tensor, meta: dict, mask_thr: float = 0.5) -> None:
        score, category, frame_ok = slot_results(logits)
        num_slots, num_classes = logits.shape[1], logits.shape[-1] - 2
        self.scores = logits.new_zeros((num_slots, num_classes))
        has_class = category > 0
        self.scores[has_class, category[has_class] - 1] = score[has_class]
        self.embeds, self.meta, self.mask_thr = embeds, meta, mask_thr
        self.num_frames = logits.shape[0]
        self.slot_logits = mask_logits.masked_fill(~frame_ok[..., None, None], NO_MASK_LOGIT)

    def mask_logits(self, query_inds: Tensor, start: int, stop: int) -> Tensor:
        """(k, stop - start, h, w) mask logits of slots ``query_inds``."""
        return self.slot_logits[query_inds, start:stop]

    resize = staticmethod(resize_mask_logits)  # a class attribute, so that the benchmark can time it

    def logits_to_masks(self, logits: Tensor, rescale: bool) -> Tensor:
        # sigmoid then compare, as the official code: a logit just above 0 can round to exactly 0.5
        return self.resize(logits, self.meta, rescale).sigmoid() > self.mask_thr


def select_slots(scores: Tensor, max_per_video: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Every slot with a class, once, by decreasing score (at most ``max_per_video``; no score threshold, as the
    official inference).

    Args:
        scores: (P, K) :attr:`VisTRClip.scores` (one nonzero column per slot at most).

    Returns:
        scores (k,), labels (k,), slots (k,).
    """
    best, labels = scores.max(1)
    slots = torch.nonzero(best > 0).squeeze(1)
    order = best[slots].argsort(descending=True, stable=True)[:max_per_video]
    slots = slots[order]
    return best[slots], labels[slots], slots
