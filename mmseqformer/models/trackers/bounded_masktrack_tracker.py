"""MaskTrack R-CNN's tracker (mmdet's, reused) with a bounded per-track history and one detection per track."""
from typing import Optional, Tuple

import torch
from mmdet.models.trackers import MaskTrackRCNNTracker
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class BoundedMaskTrackRCNNTracker(MaskTrackRCNNTracker):
    """mmdet's ``MaskTrackRCNNTracker`` whose tracks keep only their last ``history_len`` frames.

    mmdet's ``BaseTracker.update_track`` appends every frame's box, label, score, mask (at the original frame size)
    and RoI feature (256 x 7 x 7) to each live track, so memory grows with the video. The matching reads only the
    newest entry of each (``get`` takes ``[-1]``, expiry reads ``frame_ids[-1]``), so ``history_len=1`` tracks
    exactly as mmdet does at constant memory; longer histories are for trackers that read the past (ObjProp).

    mmdet's greedy assignment gives a track to every detection whose best match it is and that scores higher than
    the detections before it, so two detections of one frame can share an id (its TODO): a later, better one takes
    the id without taking it from the earlier one. With ``unique_ids`` (default) only the best-scoring detection
    of each track keeps the id and the others are dropped, as mmdet already drops a worse, later one.

    mmdet's tracker also stores every detection's mask at the original frame size, which its association never
    reads; with many short-lived tracks (each kept ``num_frames_retain`` frames) those masks dominate the memory, so
    they are kept only with ``keep_masks``.

    Args:
        history_len: frames of history kept per track (>= 1).
        unique_ids: one detection per track and frame (False: mmdet's assignment, duplicates included).
        keep_masks: store the tracks' masks (not read by the association).
        match_weights, momentums, num_frames_retain: as mmdet's ``MaskTrackRCNNTracker`` / ``BaseTracker``.
    """

    def __init__(self, history_len: int = 1, unique_ids: bool = True, keep_masks: bool = False,
                 match_weights: Optional[dict] = None, **kwargs) -> None:
        if history_len < 1:
            raise ValueError(f'history_len must be >= 1, got {history_len}')
        self.history_len = history_len
        self.unique_ids = unique_ids
        self.keep_masks = keep_masks
        if match_weights is None:
            match_weights = dict(det_score=1.0, iou=2.0, det_label=10.0)
        super().__init__(match_weights=match_weights, **kwargs)

    def assign_ids(self, match_scores: Tensor) -> Tuple[Tensor, Tensor]:
        """mmdet's assignment; with ``unique_ids`` each track's id stays with its best-scoring detection only.

        Args:
            match_scores: (num_dets, 1 + num_tracks), column 0 = a new track.

        Returns:
            ids (num_dets,), -1 for a dropped detection; best match score per track (num_tracks,).
        """
        ids, best_scores = super().assign_ids(match_scores)
        if not self.unique_ids:
            return ids, best_scores
        scores, columns = match_scores.max(dim=1)
        for column in columns.unique().tolist():
            if column == 0:
                continue
            rivals = torch.nonzero((columns == column) & (ids >= 0)).flatten()
            if len(rivals) > 1:
                winner = rivals[scores[rivals].argmax()]
                ids[rivals[rivals != winner]] = -1
        return ids, best_scores

    def update(self, **kwargs) -> None:
        if not self.keep_masks:
            kwargs['masks'] = None  # BaseTracker.update stores no item given as None
        super().update(**kwargs)

    def update_track(self, id: int, obj: Tuple[Tensor, ...]) -> None:
        super().update_track(id, obj)
        for history in self.tracks[id].values():
            if isinstance(history, list) and len(history) > self.history_len:
                del history[:-self.history_len]

    def history_length(self) -> int:
        """The longest history any live track holds (frames)."""
        return max((len(v) for track in self.tracks.values() for v in track.values() if isinstance(v, list)),
                   default=0)
