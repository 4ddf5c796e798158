"""Outputs of a video run: per-track YouTube-VIS results, and files written under temporary names until complete."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from mmdet.structures import DetDataSample
from pycocotools import mask as mask_util


class OutputError(OSError):
    """An output that cannot be written (one line)."""


class TrackCollector:
    """Per-frame results -> one YouTube-VIS result per track (mean score, RLE per frame, None where absent)."""

    def __init__(self, video_id: int = 1) -> None:
        self.video_id = video_id
        self.tracks: Dict[int, dict] = {}
        self.num_frames = 0

    def add(self, sample: DetDataSample) -> None:
        """Record the ``pred_track_instances`` of the next frame."""
        inst = sample.pred_track_instances
        t = sample.metainfo['frame_id']
        masks = inst.masks.cpu().numpy()
        for k, tid in enumerate(inst.instances_id.tolist()):
            track = self.tracks.setdefault(tid, dict(label=int(inst.labels[k]), scores=[], rles={}, nonempty=False))
            track['scores'].append(float(inst.scores[k]))
            track['nonempty'] = track['nonempty'] or bool(masks[k].any())
            rle = mask_util.encode(np.asfortranarray(masks[k].astype(np.uint8)))
            rle['counts'] = rle['counts'].decode()
            track['rles'][t] = rle
        self.num_frames = max(self.num_frames, t + 1)

    def to_json(self) -> List[dict]:
        """YouTube-VIS results; tracks with an empty mask in every frame are left out (official)."""
        return [dict(video_id=self.video_id, score=float(np.mean(tr['scores'])), category_id=tr['label'] + 1,
                     segmentations=[tr['rles'].get(t) for t in range(self.num_frames)])
                for tr in self.tracks.values() if tr['nonempty']]

    def count_shown(self, score_thr: float) -> int:
        """Tracks whose mean score is at least ``score_thr``."""
        return sum(np.mean(tr['scores']) >= score_thr for tr in self.tracks.values())


class VideoOutputs:
    """A drawn video, drawn frames (JPEG folder) and a results json, renamed into place only by :meth:`commit`.

    Args:
        video, frames_dir, json_path: final paths (None: not written). fps: of the video.
    """

    def __init__(self, video: Optional[str], frames_dir: Optional[str], json_path: Optional[str],
                 fps: float) -> None:
        self.video, self.frames_dir, self.json_path, self.fps = video, frames_dir, json_path, fps
        self.writer = None
        self.video_tmp = self.frames_tmp = None
        self.video_backend: Optional[str] = None
        if frames_dir:
            parent = Path(frames_dir).resolve().parent
            parent.mkdir(parents=True, exist_ok=True)
            self.frames_tmp = tempfile.mkdtemp(prefix=f'.{Path(frames_dir).name}.partial-', dir=parent)

    def write(self, index: int, frame_bgr: np.ndarray) -> None:
        """Frame ``index`` (H, W, 3) uint8 BGR into the video and the frame folder."""
        import cv2

        from ..visualization import VideoWriteError
        if self.video:
            if self.writer is None:
                self._open_video()
            try:
                self.writer.write(frame_bgr)
            except VideoWriteError as e:
                raise OutputError(str(e)) from None
        if self.frames_tmp:
            cv2.imwrite(os.path.join(self.frames_tmp, f'{index:06d}.jpg'), frame_bgr)

    def _open_video(self) -> None:
        from ..visualization import VideoWriter, VideoWriteError
        out = Path(self.video).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        self.video_tmp = str(out.parent / f'.{out.stem}.partial-{os.getpid()}{out.suffix}')
        try:
            self.writer = VideoWriter(self.video_tmp, self.fps)
        except (VideoWriteError, ValueError) as e:
            raise OutputError(f'{self.video}: {e}') from None
        self.video_backend = self.writer.backend
        if self.writer.fallback_reason:
            self.video_backend += f' fallback: {self.writer.fallback_reason}; browsers will not play it'

    def commit(self, results_json: Optional[list]) -> None:
        """Close and rename every output into place."""
        from ..visualization import VideoWriteError
        if self.writer is not None:
            try:
                self.writer.close()
            except VideoWriteError as e:
                raise OutputError(str(e)) from None
            if self.writer.frames_written:
                os.replace(self.video_tmp, self.video)
            self.writer = self.video_tmp = None
        if self.frames_tmp:
            _replace_dir(self.frames_tmp, self.frames_dir)
            self.frames_tmp = None
        if results_json is not None and self.json_path:
            out = Path(self.json_path).resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.parent / f'.{out.name}.partial-{os.getpid()}'
            with open(tmp, 'w') as f:
                json.dump(results_json, f)
            os.replace(tmp, out)

    def discard(self) -> None:
        """Remove every temporary output; the final paths are untouched."""
        if self.writer is not None:
            self.writer.abort()
        if self.video_tmp and os.path.exists(self.video_tmp):
            os.remove(self.video_tmp)
        if self.frames_tmp:
            shutil.rmtree(self.frames_tmp, ignore_errors=True)


def _replace_dir(new: str, final: str) -> None:
    """Move folder ``new`` to ``final``; an existing ``final`` is moved aside first and deleted last."""
    old = None
    if os.path.exists(final):
        old = tempfile.mkdtemp(prefix=f'.{Path(final).name}.old-', dir=Path(final).resolve().parent)
        os.rmdir(old)
        os.replace(final, old)
    os.replace(new, final)
    if old:
        shutil.rmtree(old, ignore_errors=True) if os.path.isdir(old) else os.remove(old)
