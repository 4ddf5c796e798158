"""Final masks of linked windows, kept run-length encoded so that a long video costs no decoder state per window."""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from pycocotools import mask as mask_util
from torch import Tensor

# (window, query) -> (first video frame, RLEs of consecutive frames)
_Runs = Dict[Tuple[int, int], Tuple[int, List[dict]]]


def encode_masks(masks: Tensor) -> List[List[dict]]:
    """(k, t, H, W) bool -> per query, per frame the COCO RLE."""
    if masks.numel() == 0:
        return [[] for _ in range(masks.shape[0])]
    k, t, h, w = masks.shape
    arr = masks.reshape(k * t, h, w).cpu().numpy().astype(np.uint8).transpose(1, 2, 0)
    rles = mask_util.encode(np.asfortranarray(arr))
    return [rles[i * t:(i + 1) * t] for i in range(k)]


class WindowMaskStore:
    """The masks that windows give their tracks, taken when each window is decoded.

    A frame's mask comes from the first window that covers it (:attr:`WindowTrackLinker.sources`), so window ``w``
    supplies the frames it covers beyond the previous window's end. They are final once ``w`` is linked: the
    store keeps them as RLE (a few bytes per object edge) and the window's decoder outputs can be dropped, so
    memory stays that of one window whatever the video's length.

    Args:
        sources: per track, frame -> (window, query) (the linker's, filled as windows are added).
        out_hw: (H, W) of the output masks. link_hw: (h, w) of the linking masks (network input size), kept too
            when ``keep_link`` (the track NMS compares masks at that size). device: of the masks given back.
    """

    def __init__(self, sources: List[Dict[int, Tuple[int, int]]], out_hw: Tuple[int, int], link_hw: Tuple[int, int],
                 keep_link: bool = False, device: torch.device = torch.device('cpu')) -> None:
        self.sources, self.out_hw, self.link_hw, self.device = sources, tuple(out_hw), tuple(link_hw), device
        self.out_runs: _Runs = {}
        self.link_runs: Optional[_Runs] = {} if keep_link else None

    def add(self, window: int, first: int, query_inds: Tensor, out_masks: Tensor,
            link_masks: Optional[Tensor] = None) -> None:
        """Keep window ``window``'s masks of frames ``first``.. (video indices).

        Args:
            query_inds: (k,). out_masks: (k, t, H, W) bool at ``out_hw``. link_masks: (k, t, h, w) at ``link_hw``
                (needed when ``keep_link``).
        """
        queries = query_inds.tolist()
        for query, rles in zip(queries, encode_masks(out_masks)):
            self.out_runs[(window, query)] = (first, rles)
        if self.link_runs is not None:
            for query, rles in zip(queries, encode_masks(link_masks)):
                self.link_runs[(window, query)] = (first, rles)

    def masks(self, tracks: Tensor, start: int, stop: int, link_size: bool = False) -> Tensor:
        """(k, stop - start, H, W) bool masks of ``tracks`` (k,) on video frames [start, stop) (``link_size``: at
        the linking size); empty where a track was not tracked."""
        runs = self.link_runs if link_size else self.out_runs
        hw = self.link_hw if link_size else self.out_hw
        out = np.zeros((len(tracks), stop - start, *hw), dtype=bool)
        for row, track in enumerate(tracks.tolist()):
            sources = self.sources[track]
            for frame in range(start, stop):
                if frame in sources:
                    first, rles = runs[sources[frame]]
                    out[row, frame - start] = mask_util.decode(rles[frame - first]).astype(bool)
        return torch.from_numpy(out).to(self.device)
