from .clip_sampling import LocalGlobalFrameSample, sample_clip_indices
from .clip_wrappers import ClipRandomChoice, SkipEmptyClip
from .image_to_clip import ImageToClip, masks_to_boxes, warp_frame

__all__ = [
    'LocalGlobalFrameSample', 'sample_clip_indices', 'ClipRandomChoice', 'SkipEmptyClip', 'ImageToClip',
    'masks_to_boxes', 'warp_frame',
]
