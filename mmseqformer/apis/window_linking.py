"""Link the instances of overlapping clips by mask IoU on their shared frames (as VNext's clip matching)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..models.vis.window_inference import match_links, track_iou


class WindowLinker:
    """Give the instances of each new window the ids of the previous window's instances they continue.

    Two instances are the same track when they have the same label and their masks on the frames both windows
    hold overlap with IoU >= ``iou_thr``, IoU being summed intersections over summed unions across those
    frames (the YouTube-VIS track IoU); pairs are assigned one-to-one by the Hungarian algorithm on IoU.
    Unmatched instances start new tracks. This is an approximation of whole-video inference: an instance
    that leaves the window overlap and comes back later gets a new id.

    Args:
        iou_thr: smallest track IoU on the overlap that links two instances.
    """

    def __init__(self, iou_thr: float = 0.5) -> None:
        self.iou_thr = iou_thr
        self.next_id = 0
        self.prev_masks: Optional[torch.Tensor] = None
        self.prev_start = 0
        self.prev_ids: Optional[torch.Tensor] = None
        self.prev_labels: Optional[torch.Tensor] = None

    def link(self, masks: torch.Tensor, labels: torch.Tensor, start: int) -> torch.Tensor:
        """Ids for the instances of the window starting at video frame ``start``.

        Args:
            masks: (k, L, h, w) bool masks of the window's frames (any fixed resolution).
            labels: (k,) class labels.
            start: video index of the window's first frame (windows come in order).

        Returns:
            (k,) long track ids.
        """
        k = masks.shape[0]
        ids = torch.full((k,), -1, dtype=torch.long)
        if self.prev_masks is not None and k and len(self.prev_ids):
            overlap = self.prev_start + self.prev_masks.shape[1] - start
            if overlap > 0:
                iou = track_iou(masks[:, :overlap], self.prev_masks[:, start - self.prev_start:]).cpu()
                same = labels.cpu()[:, None] == self.prev_labels[None]
                for r, c in match_links(torch.where(same, iou, torch.zeros_like(iou)), self.iou_thr):
                    ids[r] = self.prev_ids[c]
        for r in np.flatnonzero(ids.numpy() < 0):
            ids[r] = self.next_id
            self.next_id += 1
        self.prev_masks, self.prev_start = masks, start
        self.prev_ids, self.prev_labels = ids, labels.cpu()
        return ids.to(labels.device)
