from .clip_sampling import SeqFormerClipSample, sample_clip_indices
from .clip_wrappers import SeqFormerRandomChoice, SeqFormerSkipEmptyClip
from .image_to_clip import SeqFormerImageToClip, masks_to_boxes, warp_frame

__all__ = [
    'SeqFormerClipSample', 'sample_clip_indices', 'SeqFormerRandomChoice', 'SeqFormerSkipEmptyClip',
    'SeqFormerImageToClip', 'masks_to_boxes', 'warp_frame',
]
