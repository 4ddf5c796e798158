"""Training clips of ``T`` consecutive frames ending at a given frame (the official VisTR sampling)."""
from __future__ import annotations

from typing import List, Tuple

from mmdet.registry import TRANSFORMS

from .clip_sampling import KeyFrameClipSample


def clip_ending_at_frame_indices(video_length: int, end_frame: int, num_frames: int,
                                 cyclic: bool = True) -> List[int]:
    """Frame indices of the ``num_frames`` consecutive frames that end at ``end_frame``, in temporal order.

    Entry ``j`` is frame ``end_frame - (num_frames - 1) + j``. With ``cyclic`` (official VisTR) an index
    outside the video is taken modulo ``video_length``: negative indices wrap to the end of the video and a
    video shorter than the clip repeats. That is what the official ``YTVOSDataset`` computes with
    ``file_names[frame_id - (i % video_length)]`` for reversed ``i`` (Python's negative indexing does the
    wrap), e.g. 5 frames ending at frame 0 of a 3-frame video are ``[2, 0, 1, 2, 0]``. Without ``cyclic``
    indices before the first frame are clamped to 0, so the clip starts by repeating frame 0 and never jumps
    from the end of the video back to its start.

    Args:
        video_length: number of frames ``n`` (>= 1).
        end_frame: the last frame of the clip, ``0 <= end_frame < n``.
        num_frames: clip length ``T`` (>= 1).
        cyclic: wrap around the video (True, official) or clamp at frame 0.

    Returns:
        ``T`` indices in ``[0, n)``; the last one is ``end_frame``.
    """
    if video_length < 1:
        raise ValueError(f'video_length must be >= 1, got {video_length}')
    if not 0 <= end_frame < video_length:
        raise ValueError(f'end_frame {end_frame} outside a video of {video_length} frames')
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    first = end_frame - num_frames + 1
    if cyclic:
        return [(first + j) % video_length for j in range(num_frames)]
    return [max(0, first + j) for j in range(num_frames)]


@TRANSFORMS.register_module()
class ClipEndingAtFrameSample(KeyFrameClipSample):
    """Sample the ``T`` consecutive frames that end at the key frame, cyclic for short videos (official VisTR).

    See :func:`clip_ending_at_frame_indices`. The key (last) frame is the one the dataset was indexed with: a
    ``(video, frame)`` tuple from ``TrackImgSampler`` sets ``key_frame_id``, so every frame of every video is
    one sample per epoch, as the official dataset. Indexed by video alone (e.g. ``DefaultSampler``) the key
    frame is uniform over the video's frames.

    A frame that occurs several times in a clip appears as several entries with the same annotations (same
    instance ids), so the per-frame transforms and ``PackTrackInputs`` treat it as any other frame.

    Input: a video info dict (``video_id``, ``video_length``, ``images``: list of per-frame dicts).
    Output: dict of lists, one entry per clip frame in clip order (as mmdet's ``UniformRefFrameSample``): every
    per-frame key, the ``collect_video_keys`` copied to each frame (``video_length`` becomes ``T`` and the
    original length goes to ``ori_video_length``) and ``key_frame_flags`` (True only for the last entry). A video
    without frames (possible after mmdet's training filter) gives ``None``, so mmengine's dataset draws another
    index.

    Args:
        num_frames: clip length ``T`` (official 36).
        cyclic: wrap around the video (official) or clamp at frame 0.
        collect_video_keys: video-level keys copied into every frame.
    """

    def __init__(self, num_frames: int = 36, cyclic: bool = True,
                 collect_video_keys: List[str] = ['video_id', 'video_length']) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        super().__init__(collect_video_keys=collect_video_keys)
        self.num_frames = num_frames
        self.cyclic = cyclic

    def sampling_frames(self, video_length: int, key_frame_id: int) -> Tuple[List[int], List[bool]]:
        """Clip frame indices in clip order and the key-frame flags (the last entry)."""
        inds = clip_ending_at_frame_indices(video_length, key_frame_id, self.num_frames, self.cyclic)
        return inds, [False] * (len(inds) - 1) + [True]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, cyclic={self.cyclic}, '
                f'collect_video_keys={self.collect_video_keys})')
