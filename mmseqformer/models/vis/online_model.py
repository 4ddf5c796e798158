"""Online models: one frame at a time, a tracker carries the state from frame to frame."""
from abc import abstractmethod
from typing import Iterable, Iterator, Optional

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from .base_vis_model import BaseVISModel, FrameResult


class OnlineVISModel(BaseVISModel):
    """A model that segments and tracks frame by frame: each frame's result is final when the frame is seen.

    Subclasses implement :meth:`init_video_state` (a fresh tracker state per video) and :meth:`track_frame`.
    Memory is what the tracker keeps, independent of the video's length if the tracker bounds its history.
    """

    @abstractmethod
    def init_video_state(self, meta: dict) -> object:
        """A fresh tracker state for a new video (``meta`` as in :meth:`predict_video`)."""

    @abstractmethod
    def track_frame(self, frame: Tensor, frame_id: int, meta: dict, state: object, rescale: bool) -> InstanceData:
        """Detect, segment and track on one (3, h, w) frame, updating ``state``.

        Returns:
            InstanceData(masks (k, H, W) bool, bboxes (k, 4), scores (k,), labels (k,), instances_id (k,)).
        """

    @torch.no_grad()
    def predict_video(self, frames: Iterable[Tensor], meta: dict, chunk_size: Optional[int] = None,
                      rescale: bool = True) -> Iterator[FrameResult]:
        state = self.init_video_state(meta)
        for frame_id, frame in enumerate(frames):
            yield frame_id, self.track_frame(frame, frame_id, meta, state, rescale)
