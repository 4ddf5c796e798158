"""LocalGlobalFrameSample: the official anchor + local + global sampling scheme."""
from __future__ import annotations

import itertools
from collections import Counter
from typing import List

import numpy as np
import pytest

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the transforms)
from mmdet.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmseqformer.datasets.transforms import LocalGlobalFrameSample, sample_clip_indices  # noqa: E402


def _explains(inds: List[int], n: int, f: int, local_range: int = 3) -> bool:
    """Whether ``inds`` can come from anchor ``f``, local frames ``lo``/``hi`` and globals drawn without
    replacement from ``all[:lo] + all[hi:]`` (the official slicing, which includes ``hi``)."""
    rest = Counter(inds)
    rest[f] -= 1
    los = {max(0, f - d) for d in range(1, local_range + 1)}
    his = {min(n - 1, f + d) for d in range(1, local_range + 1)}
    for lo, hi in itertools.product(los, his):
        left = rest.copy()
        left[lo] -= 1
        left[hi] -= 1
        if any(c < 0 for c in left.values()):
            continue
        globals_ = list(left.elements())
        if len(set(globals_)) == len(globals_) and all(g < lo or g >= hi for g in globals_):
            return True
    return False


@pytest.mark.parametrize('n', [12, 20, 40])
def test_long_videos_follow_the_official_scheme(n: int) -> None:
    np.random.seed(0)
    hi_repeated = 0
    for f in range(n):
        for _ in range(20):
            inds = sample_clip_indices(n, f, num_frames=5)
            assert len(inds) == 5 and inds == sorted(inds) and f in inds
            assert all(0 <= i < n for i in inds)
            assert _explains(inds, n, f), (n, f, inds)
            hi = min(n - 1, max(i for i in inds if i <= f + 3))
            hi_repeated += inds.count(hi) > 1 and hi > f
    # the global pool all[max(local):] starts at the later local frame, so it can be drawn twice
    assert hi_repeated > 0


def test_local_offsets_cover_one_to_three() -> None:
    np.random.seed(1)
    n, f = 50, 25
    before, after = set(), set()
    for _ in range(200):
        inds = sample_clip_indices(n, f, num_frames=3)  # anchor + the two local frames only
        assert len(inds) == 3
        before.add(f - inds[0])
        after.add(inds[2] - f)
    assert before == {1, 2, 3} and after == {1, 2, 3}


def test_clamping_at_the_video_ends() -> None:
    np.random.seed(2)
    for _ in range(50):
        start = sample_clip_indices(10, 0, num_frames=3)
        end = sample_clip_indices(10, 9, num_frames=3)
        # the clamped "before" frame of anchor 0 is the anchor itself, likewise "after" at the end
        assert start[:2] == [0, 0] and 1 <= start[2] <= 3
        assert end[1:] == [9, 9] and 6 <= end[0] <= 8


@pytest.mark.parametrize('n,t', [(1, 5), (2, 5), (3, 5), (4, 5), (1, 10), (2, 10), (3, 36)])
def test_short_videos_repeat_frames(n: int, t: int) -> None:
    np.random.seed(3)
    for f in range(n):
        for _ in range(10):
            inds = sample_clip_indices(n, f, num_frames=t)
            assert len(inds) == t and inds == sorted(inds) and f in inds
            assert set(inds) <= set(range(n))
    assert sample_clip_indices(1, 0, num_frames=5) == [0] * 5


def test_pool_too_small_falls_back_to_the_whole_video() -> None:
    # n=4, anchor 1: lo is 0 and the pool all[:0] + all[hi:] has at most 2 frames, not more than the two
    # needed, so the globals are two distinct frames of the whole video, the anchor included
    np.random.seed(4)
    anchor_twice = 0
    for _ in range(200):
        inds = sample_clip_indices(4, 1, num_frames=5)
        rest = Counter(inds)
        rest.subtract([1, 0])  # anchor and lo
        options = []
        for hi in (h for h in (2, 3) if rest[h] > 0):
            globals_ = list((rest - Counter([hi])).elements())
            options.append(len(globals_) == 2 and len(set(globals_)) == 2)
        assert any(options), inds
        anchor_twice += inds.count(1) >= 2
    assert anchor_twice > 0  # impossible if the globals came from the (anchor-free) pool


def test_one_and_two_frames() -> None:
    np.random.seed(5)
    assert sample_clip_indices(30, 7, num_frames=1) == [7]
    for _ in range(30):
        inds = sample_clip_indices(30, 7, num_frames=2)
        assert len(inds) == 2 and 7 in inds and 1 <= abs(inds[0] - inds[1]) <= 3


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        sample_clip_indices(0, 0)
    with pytest.raises(ValueError):
        sample_clip_indices(5, 5)
    with pytest.raises(ValueError):
        LocalGlobalFrameSample(num_frames=0)


def _video(n: int) -> dict:
    images = [dict(img_path=f'{i}.jpg', frame_id=i, img_id=100 + i, instances=[]) for i in range(n)]
    return dict(video_id=7, video_length=n, images=images)


def test_transform_output_format_and_determinism() -> None:
    sampler = TRANSFORMS.build(dict(type='LocalGlobalFrameSample', num_frames=5))
    np.random.seed(6)
    first = [sampler(_video(20)) for _ in range(5)]
    np.random.seed(6)
    second = [sampler(_video(20)) for _ in range(5)]
    assert [r['frame_id'] for r in first] == [r['frame_id'] for r in second]
    for out in first:
        assert set(out) == {'img_path', 'frame_id', 'img_id', 'instances', 'video_id', 'video_length',
                            'ori_video_length', 'key_frame_flags'}
        assert all(len(v) == 5 for v in out.values())
        assert out['video_length'] == [5] * 5 and out['ori_video_length'] == [20] * 5
        assert out['video_id'] == [7] * 5
        assert out['img_id'] == [100 + i for i in out['frame_id']]
        assert sum(out['key_frame_flags']) == 1
        key = out['frame_id'][out['key_frame_flags'].index(True)]
        assert _explains(out['frame_id'], 20, key)


def test_key_frame_id_and_empty_video() -> None:
    sampler = LocalGlobalFrameSample(num_frames=5)
    np.random.seed(7)
    for key in (0, 4, 19):
        video = _video(20)
        video['key_frame_id'] = key
        out = sampler(video)
        assert out['frame_id'][out['key_frame_flags'].index(True)] == key
        assert out['frame_id'].index(key) == out['key_frame_flags'].index(True)  # first occurrence flagged
    assert sampler(dict(video_id=1, video_length=0, images=[])) is None


def test_dataset_tuple_index_sets_the_anchor(toy_vis_small: str) -> None:
    with DefaultScope.overwrite_default_scope('mmdet'):  # pipelines are built in the current scope
        ds = DATASETS.build(dict(type='ToyVISDataset', data_root=toy_vis_small,
                                 ann_file='annotations/toy_vis_train.json',
                                 data_prefix=dict(img_path='train/JPEGImages'),
                                 pipeline=[dict(type='LocalGlobalFrameSample', num_frames=5)]))
    np.random.seed(8)
    length = ds.get_data_info(0)['video_length']
    for frame in range(length):
        out = ds[(0, frame)]
        assert out['frame_id'][out['key_frame_flags'].index(True)] == frame
        assert _explains(out['frame_id'], length, frame)


def test_one_local_neighbour_leaves_room_for_a_far_frame() -> None:
    """num_local=1: anchor, one neighbour within 1-3 frames, and one frame outside that window."""
    np.random.seed(3)
    n, f = 40, 20
    far = 0
    sides = set()
    for _ in range(300):
        inds = sample_clip_indices(n, f, num_frames=3, num_local=1)
        assert len(inds) == 3 and inds == sorted(inds) and f in inds
        rest = list(inds)
        rest.remove(f)
        # some split of the other two into (near neighbour, global frame from all[:lo] + all[hi:])
        splits = [(near, other) for near, other in (rest, rest[::-1]) if 1 <= abs(near - f) <= 3
                  and (other < min(f, near) or other >= max(f, near))]
        assert splits, inds
        sides.update(np.sign(near - f) for near, _ in splits)
        far += any(abs(other - f) > 3 for _, other in splits)
    assert sides == {-1, 1}
    assert far > 250  # mostly far away on a 40-frame video
    with pytest.raises(ValueError, match='num_local'):
        LocalGlobalFrameSample(num_frames=3, num_local=3)
