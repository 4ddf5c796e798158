"""What an offline clip model's decoder gives for one clip (or window): class scores, embeddings, masks on demand."""
from abc import ABCMeta, abstractmethod
from torch import Tensor


class ClipDecoding(metaclass=ABCMeta):
    """The decoded queries of one clip of ``num_frames`` frames; masks are made only for the queries asked.

    Attributes:
        scores: (Q, K) class probabilities of every query.
        embeds: (Q, C) query embeddings (linked across windows by their similarity).
        num_frames: frames of the clip.
    """

    scores: Tensor
    embeds: Tensor
    num_frames: int

    @abstractmethod
    def mask_logits(self, query_inds: Tensor, start: int, stop: int) -> Tensor:
        """(k, stop - start, h, w) mask logits of queries ``query_inds`` (k,) on clip frames [start, stop)."""

    @abstractmethod
    def logits_to_masks(self, logits: Tensor, rescale: bool) -> Tensor:
        """(n, t, h, w) logits of :meth:`mask_logits` -> (n, t, H, W) bool at ``ori_shape`` (``rescale``) or
        ``img_shape``."""

    def masks(self, query_inds: Tensor, start: int, stop: int, rescale: bool) -> Tensor:
        """(k, stop - start, H, W) bool masks of queries ``query_inds`` on clip frames [start, stop)."""
        return self.logits_to_masks(self.mask_logits(query_inds, start, stop), rescale)
