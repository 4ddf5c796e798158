from .clip_ending_sampling import ClipEndingAtFrameSample, clip_ending_at_frame_indices
from .clip_sampling import LocalGlobalFrameSample, sample_clip_indices
from .clip_wrappers import ClipRandomChoice, SkipEmptyClip
from .crop_keep_instances import RandomCropKeepInstances
from .image_to_clip import ImageToClip, masks_to_boxes, warp_frame
from .previous_ref_sampling import PreviousRefFrameSample

__all__ = [
    'LocalGlobalFrameSample', 'sample_clip_indices', 'ClipRandomChoice', 'SkipEmptyClip', 'ImageToClip',
    'masks_to_boxes', 'warp_frame', 'ClipEndingAtFrameSample', 'clip_ending_at_frame_indices',
    'RandomCropKeepInstances', 'PreviousRefFrameSample',
]
