from .annotation_checks import YTVISFormatError
from .cocovid_check import check_cocovid, check_config_annotations
from .coco_video import CocoPseudoVideoDataset, parse_cat_map, youtube_vis_classes
from .ovis_dataset import OVIS_CLASSES, OVISDataset
from .toy_vis_dataset import TOY_VIS_CLASSES, ToyVISDataset
from .transforms import (ClipEndingAtFrameSample, ClipRandomChoice, ImageToClip, LocalGlobalFrameSample,
                         RandomCropKeepInstances, SkipEmptyClip, clip_ending_at_frame_indices, masks_to_boxes,
                         sample_clip_indices, warp_frame)

__all__ = [
    'ToyVISDataset', 'TOY_VIS_CLASSES', 'YTVISFormatError', 'CocoPseudoVideoDataset', 'parse_cat_map',
    'youtube_vis_classes', 'OVIS_CLASSES', 'OVISDataset', 'LocalGlobalFrameSample', 'ImageToClip',
    'ClipRandomChoice', 'SkipEmptyClip', 'masks_to_boxes', 'sample_clip_indices', 'warp_frame',
    'check_cocovid', 'check_config_annotations', 'ClipEndingAtFrameSample', 'RandomCropKeepInstances',
    'clip_ending_at_frame_indices',
]
