"""What an offline clip model's decoder gives for one clip (or window): class scores, embeddings, masks on demand."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Tuple

import torch
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

    def compact(self) -> None:
        """Keep own copies of what :meth:`masks` needs: the encoder buffers it viewed are about to be reused.

        Clips that hold no view of the encoder buffers keep this default.
        """
        return None


class LinkedWindows:
    """Masks of linked tracks over decoded windows: each frame from the window that first covered it.

    Args:
        windows: per window, (first frame, its :class:`ClipDecoding`). sources: per track, frame -> (window,
            query) (:attr:`WindowTrackLinker.sources`). out_shapes: (H, W) of ``rescale`` False and True.
    """

    def __init__(self, windows: List[Tuple[int, ClipDecoding]], sources: List[Dict[int, Tuple[int, int]]],
                 out_shapes: Tuple[Tuple[int, int], Tuple[int, int]]) -> None:
        self.windows, self.sources, self.out_shapes = windows, sources, out_shapes

    def masks(self, tracks: Tensor, start: int, stop: int, rescale: bool) -> Tensor:
        """(k, stop - start, H, W) bool masks of ``tracks`` (k,) on video frames [start, stop); empty where a track
        was not tracked."""
        device = self.windows[0][1].scores.device if self.windows else 'cpu'
        masks = torch.zeros((len(tracks), stop - start, *self.out_shapes[int(rescale)]), dtype=torch.bool,
                            device=device)
        # per window: the (row, frame, query) triples it supplies; only frames in [start, stop) are looked up
        by_window: Dict[int, Tuple[List[int], List[int], List[int]]] = {}
        for row, track in enumerate(tracks.tolist()):
            sources = self.sources[track]
            for frame in range(start, stop):
                if frame in sources:
                    w, query = sources[frame]
                    rows, frames, queries = by_window.setdefault(w, ([], [], []))
                    rows.append(row)
                    frames.append(frame)
                    queries.append(query)
        for w, (rows, frames, queries) in by_window.items():
            w_start, dec = self.windows[w]
            # one mask pass for the window's distinct queries on its frames, then pick the (query, frame) pairs
            uniq, pick = torch.tensor(queries).unique(return_inverse=True)
            logits = dec.mask_logits(uniq.to(device), 0, dec.num_frames)
            logits = logits[pick.to(device), torch.tensor(frames, device=device) - w_start][:, None]
            masks[torch.tensor(rows), torch.tensor(frames) - start] = dec.logits_to_masks(logits, rescale)[:, 0]
        return masks
