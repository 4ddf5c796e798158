"""PreviousRefFrameSample ("ordered pairs"): the reference is the frame before the key; defined at the edges."""
import pytest

from mmseqformer.datasets.transforms import PreviousRefFrameSample


@pytest.mark.parametrize('length, key, frames, flags', [
    (5, 3, [2, 3], [False, True]),
    (5, 0, [0, 1], [True, False]),  # no previous frame: the next one
    (5, 4, [3, 4], [False, True]),
    (1, 0, [0, 0], [True, False]),  # a 1-frame video is its own reference, as UniformRefFrameSample
])
def test_reference_is_the_previous_frame(length, key, frames, flags):
    assert PreviousRefFrameSample().sampling_frames(length, key) == (frames, flags)


def test_transform_packs_key_and_previous_frame():
    images = [dict(frame_id=i, img_path=f'{i}.jpg') for i in range(3)]
    video = dict(video_id=7, video_length=3, key_frame_id=2, images=images)
    results = PreviousRefFrameSample().transform(video)
    assert results['frame_id'] == [1, 2] and results['key_frame_flags'] == [False, True]


def test_key_outside_the_video_is_one_clear_error():
    with pytest.raises(ValueError, match='not in a video of 3 frames'):
        PreviousRefFrameSample().sampling_frames(3, 3)
