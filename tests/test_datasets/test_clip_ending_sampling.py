"""ClipEndingAtFrameSample: the T consecutive frames ending at a frame, cyclic (the official VisTR sampling)."""
from __future__ import annotations

from typing import List

import numpy as np
import pytest

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the transforms)
from mmdet.datasets.samplers import TrackImgSampler  # noqa: E402
from mmdet.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmseqformer.datasets.transforms import ClipEndingAtFrameSample, clip_ending_at_frame_indices  # noqa: E402


def _official_indices(video_length: int, frame_id: int, num_frames: int) -> List[int]:
    """The official YTVOSDataset's file indices: offsets ``i % n`` reversed, read with Python's negative
    indexing (``file_names[frame_id - offset]``)."""
    offsets = [i % video_length for i in range(num_frames)][::-1]
    frames = list(range(video_length))
    return [frames[frame_id - off] for off in offsets]


@pytest.mark.parametrize('n', [1, 2, 3, 5, 20, 35, 36, 37, 60])
@pytest.mark.parametrize('t', [1, 5, 36])
def test_cyclic_indices_equal_the_official_ones(n: int, t: int) -> None:
    for f in range(n):
        inds = clip_ending_at_frame_indices(n, f, t)
        assert inds == _official_indices(n, f, t), (n, f, t)
        assert len(inds) == t and inds[-1] == f


def test_long_video_clip_is_consecutive_and_wraps_at_the_start() -> None:
    assert clip_ending_at_frame_indices(50, 40, 5) == [36, 37, 38, 39, 40]
    assert clip_ending_at_frame_indices(50, 35, 36) == list(range(36))
    # indices before frame 0 wrap to the end of the video
    assert clip_ending_at_frame_indices(50, 2, 6) == [47, 48, 49, 0, 1, 2]
    assert clip_ending_at_frame_indices(40, 0, 36) == list(range(5, 40)) + [0]


def test_short_video_repeats_modulo_its_length() -> None:
    assert clip_ending_at_frame_indices(3, 0, 5) == [2, 0, 1, 2, 0]
    assert clip_ending_at_frame_indices(3, 2, 7) == [2, 0, 1, 2, 0, 1, 2]
    assert clip_ending_at_frame_indices(1, 0, 4) == [0, 0, 0, 0]
    inds = clip_ending_at_frame_indices(10, 4, 36)
    assert inds[-10:] == [5, 6, 7, 8, 9, 0, 1, 2, 3, 4]
    assert all((b - a) % 10 == 1 for a, b in zip(inds, inds[1:]))  # consecutive modulo the length


def test_non_cyclic_clamps_at_the_first_frame() -> None:
    assert clip_ending_at_frame_indices(50, 2, 6, cyclic=False) == [0, 0, 0, 0, 1, 2]
    assert clip_ending_at_frame_indices(3, 2, 5, cyclic=False) == [0, 0, 0, 1, 2]
    assert clip_ending_at_frame_indices(50, 40, 5, cyclic=False) == [36, 37, 38, 39, 40]


def test_bad_arguments() -> None:
    for args in ((0, 0, 3), (5, 5, 3), (5, -1, 3), (5, 0, 0)):
        with pytest.raises(ValueError):
            clip_ending_at_frame_indices(*args)
    with pytest.raises(ValueError, match='num_frames'):
        ClipEndingAtFrameSample(num_frames=0)


def _video(n: int) -> dict:
    images = [dict(img_path=f'{i}.jpg', frame_id=i, img_id=100 + i, instances=[dict(instance_id=i % 2 + 1)])
              for i in range(n)]
    return dict(video_id=7, video_length=n, images=images)


def test_transform_output_format() -> None:
    sampler = TRANSFORMS.build(dict(type='ClipEndingAtFrameSample', num_frames=8))
    video = _video(5)
    video['key_frame_id'] = 1
    out = sampler(video)
    assert set(out) == {'img_path', 'frame_id', 'img_id', 'instances', 'video_id', 'video_length',
                        'ori_video_length', 'key_frame_flags'}
    assert out['frame_id'] == [4, 0, 1, 2, 3, 4, 0, 1]
    assert out['img_id'] == [100 + i for i in out['frame_id']]
    assert out['img_path'] == [f'{i}.jpg' for i in out['frame_id']]
    # a repeated frame keeps its annotations
    assert [inst[0]['instance_id'] for inst in out['instances']] == [i % 2 + 1 for i in out['frame_id']]
    assert out['key_frame_flags'] == [False] * 7 + [True]
    assert out['video_length'] == [8] * 8 and out['ori_video_length'] == [5] * 8 and out['video_id'] == [7] * 8
    assert ClipEndingAtFrameSample(num_frames=3)(dict(video_id=1, video_length=0, images=[])) is None


def test_random_key_frame_without_a_frame_index() -> None:
    sampler = ClipEndingAtFrameSample(num_frames=4)
    np.random.seed(0)
    ends = set()
    for _ in range(60):
        out = sampler(_video(6))
        end = out['frame_id'][-1]
        assert out['frame_id'] == clip_ending_at_frame_indices(6, end, 4)
        ends.add(end)
    assert ends == set(range(6))


def test_every_frame_is_a_sample_with_track_img_sampler(toy_vis_small: str) -> None:
    """TrackImgSampler yields every (video, frame) once per epoch; the dataset passes the frame as the key
    frame, so each sample is the clip ending at that frame (the official epoch)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(dict(type='ToyVISDataset', data_root=toy_vis_small,
                                 ann_file='annotations/toy_vis_train.json',
                                 data_prefix=dict(img_path='train/JPEGImages'),
                                 filter_cfg=dict(filter_empty_gt=False, min_size=0),
                                 pipeline=[dict(type='ClipEndingAtFrameSample', num_frames=36)]))
    indices = list(TrackImgSampler(ds, seed=0))
    assert sorted(indices) == [(v, f) for v in range(len(ds)) for f in range(ds.get_len_per_video(v))]
    for video, frame in indices[:40]:
        info = ds.get_data_info(video)
        out = ds[(video, frame)]
        n = len(info['images'])
        expected = clip_ending_at_frame_indices(n, frame, 36)
        assert out['frame_id'] == [info['images'][i]['frame_id'] for i in expected]
        assert out['img_path'] == [info['images'][i]['img_path'] for i in expected]
        ids = [sorted(inst['instance_id'] for inst in frame_instances) for frame_instances in out['instances']]
        assert ids == [sorted(inst['instance_id'] for inst in info['images'][i]['instances']) for i in expected]
        assert out['key_frame_flags'][-1] and out['frame_id'][-1] == info['images'][frame]['frame_id']
