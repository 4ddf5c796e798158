"""Key + reference frame sampling where the reference is the previous frame ("ordered pairs")."""
from typing import List, Tuple

from mmdet.datasets.transforms import UniformRefFrameSample
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PreviousRefFrameSample(UniformRefFrameSample):
    """The key frame and the frame before it as the reference: what an online tracker sees at test time.

    The first frame has no previous frame and takes the next one; a 1-frame video is its own reference (as
    ``UniformRefFrameSample`` does). Output as ``UniformRefFrameSample``: the two frames in time order and the key
    flags.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(num_ref_imgs=1, frame_range=1, filter_key_img=True, **kwargs)

    def sampling_frames(self, video_length: int, key_frame_id: int) -> Tuple[List[int], List[bool]]:
        if video_length < 1 or not 0 <= key_frame_id < video_length:
            raise ValueError(f'key frame {key_frame_id} is not in a video of {video_length} frames')
        if video_length == 1:
            ref = key_frame_id
        else:
            ref = key_frame_id - 1 if key_frame_id > 0 else 1
        frames = sorted([key_frame_id, ref])
        flags = [False, False]
        flags[frames.index(key_frame_id) if ref != key_frame_id else 0] = True
        return frames, flags
