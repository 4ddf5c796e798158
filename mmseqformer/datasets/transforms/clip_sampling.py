"""Official SeqFormer clip sampling: an anchor frame, one near neighbour on each side, the rest far away."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from mmdet.datasets.transforms import BaseFrameSample
from mmdet.registry import TRANSFORMS

from ...utils import register_deprecated_alias


def sample_clip_indices(video_length: int, key_frame_id: int, num_frames: int = 5,
                        local_range: int = 3, num_local: int = 2) -> List[int]:
    """Frame indices of one training clip, sorted, following the official SeqFormer sampler.

    The clip holds the anchor ``key_frame_id``, ``key - randint(1, local_range)`` (clamped to >= 0) and
    ``key + randint(1, local_range)`` (clamped to <= ``video_length - 1``), plus ``num_frames - 3`` "global"
    frames drawn without replacement from ``all[:lo] + all[hi:]`` where ``lo``/``hi`` are the smaller and
    larger local frame. That is the official slicing verbatim: the left part stops before ``lo`` but the right
    part *starts at* ``hi``, so ``hi`` itself can be drawn a second time. When that pool holds no more than the
    frames needed, the global frames come from the whole video instead (without replacement while it is
    long enough, else every frame once or more plus a random rest). Duplicates are therefore possible,
    e.g. the anchor equals the clamped ``lo`` at frame 0.

    ``num_frames == 1`` gives just the anchor. The official scheme always adds both local frames, so it has
    no two-frame clip; here ``num_frames == 2`` gives the anchor and one of its two local neighbours.
    ``num_local=1`` (not official) keeps only one of the two local frames, chosen at random, so short clips
    still hold a far frame: with ``num_frames=3`` a clip is the anchor, a neighbour and a global frame.

    Randomness comes from numpy's global generator, which mmengine seeds (and reseeds per dataloader worker).

    Args:
        video_length: number of frames ``n`` available (>= 1).
        key_frame_id: the anchor, ``0 <= key_frame_id < n``.
        num_frames: clip length ``T`` (>= 1).
        local_range: largest offset of the two local neighbours (>= 1).
        num_local: 2 (official) or 1 local neighbours.

    Returns:
        ``T`` sorted frame indices in ``[0, n)``.
    """
    if video_length < 1:
        raise ValueError(f'video_length must be >= 1, got {video_length}')
    if not 0 <= key_frame_id < video_length:
        raise ValueError(f'key_frame_id {key_frame_id} outside a video of {video_length} frames')
    inds = [key_frame_id]
    if num_frames == 1:
        return inds
    before = int(np.random.randint(1, local_range + 1))
    after = int(np.random.randint(1, local_range + 1))
    local = [max(0, key_frame_id - before), min(video_length - 1, key_frame_id + after)]
    if num_frames == 2 or num_local == 1:
        inds.append(local[int(np.random.randint(2))])
        if num_frames == 2:
            return sorted(inds)
    else:
        inds.extend(local)
    num_global = num_frames - len(inds)
    if num_global > 0:
        all_inds = list(range(video_length))
        pool = all_inds[:min(inds)] + all_inds[max(inds):]
        if len(pool) > num_global:
            picks = [pool[i] for i in np.random.choice(len(pool), num_global, replace=False)]
        elif video_length >= num_global:
            picks = np.random.choice(video_length, num_global, replace=False).tolist()
        else:
            # the official takes every frame once plus a random rest; repeating whole copies also covers
            # videos shorter than half the number of global frames, where the official would fail
            copies, rest = divmod(num_global, video_length)
            picks = np.random.choice(video_length, rest, replace=False).tolist() + all_inds * copies
        inds.extend(int(i) for i in picks)
    return sorted(inds)


class KeyFrameClipSample(BaseFrameSample):
    """A clip sampler around a key frame: the dataset's ``key_frame_id`` (from ``TrackImgSampler``), or a random
    frame; subclasses choose the clip's frames (:meth:`sampling_frames`)."""

    def transform(self, video_infos: dict) -> Optional[Dict[str, List]]:
        # the number of frames actually listed: mmdet's filter may have removed some
        video_length = len(video_infos['images'])
        if video_length == 0:
            return None
        key_frame_id = video_infos.get('key_frame_id')
        if key_frame_id is None:
            key_frame_id = int(np.random.randint(video_length))
        inds, flags = self.sampling_frames(video_length, int(key_frame_id))
        results = self.prepare_data(video_infos, inds)
        results['key_frame_flags'] = flags
        return results


@TRANSFORMS.register_module()
class LocalGlobalFrameSample(KeyFrameClipSample):
    """Sample a ``T``-frame training clip from a whole video the way the official SeqFormer does.

    See :func:`sample_clip_indices` for the scheme. The anchor is random (uniform over the video's frames)
    unless the dataset was indexed with a ``(video, frame)`` tuple, which sets ``key_frame_id``.

    Input: a video info dict (``video_id``, ``video_length``, ``images``: list of per-frame dicts).
    Output: dict of lists, one entry per sampled frame in temporal order (as mmdet's
    ``UniformRefFrameSample``): every per-frame key, the ``collect_video_keys`` copied to each frame
    (``video_length`` becomes ``T`` and the original length goes to ``ori_video_length``), and
    ``key_frame_flags`` (True for exactly one entry: the anchor's first occurrence). A video without frames
    (possible after mmdet's training filter) gives ``None``, so mmengine's dataset draws another index.

    Args:
        num_frames: clip length ``T`` (default 5, as the official).
        local_range: largest offset of the two local neighbours (official 3).
        num_local: local neighbours, 2 (official) or 1 (see :func:`sample_clip_indices`).
        collect_video_keys: video-level keys copied into every frame.
    """

    def __init__(self, num_frames: int = 5, local_range: int = 3, num_local: int = 2,
                 collect_video_keys: List[str] = ['video_id', 'video_length']) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        if num_local not in (1, 2):
            raise ValueError(f'num_local must be 1 or 2, got {num_local}')
        if local_range < 1:
            raise ValueError(f'local_range must be >= 1, got {local_range}')
        super().__init__(collect_video_keys=collect_video_keys)
        self.num_frames = num_frames
        self.local_range = local_range
        self.num_local = num_local

    def sampling_frames(self, video_length: int, key_frame_id: int) -> Tuple[List[int], List[bool]]:
        """Sorted frame indices and the key-frame flags for one clip."""
        inds = sample_clip_indices(video_length, key_frame_id, self.num_frames, self.local_range, self.num_local)
        flags = [False] * len(inds)
        flags[inds.index(key_frame_id)] = True
        return inds, flags

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, local_range={self.local_range}, '
                f'num_local={self.num_local}, '
                f'collect_video_keys={self.collect_video_keys})')


SeqFormerClipSample = register_deprecated_alias(TRANSFORMS, LocalGlobalFrameSample, 'SeqFormerClipSample')
