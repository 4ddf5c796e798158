from .cocovid_check import check_cocovid, check_config_annotations
from .coco_video import CocoPseudoVideoDataset, parse_cat_map, youtube_vis_classes
from .labelme_converter import LabelmeFormatError, convert_labelme, convert_labelme_file
from .ovis_dataset import OVIS_CLASSES, OVISDataset
from .toy_vis_dataset import ToyVISDataset
from .toy_vis_generator import CLASSES as TOY_VIS_CLASSES
from .toy_vis_generator import generate_toy_vis, render_video, summarize
from .transforms import (ClipRandomChoice, ImageToClip, LocalGlobalFrameSample, SkipEmptyClip, masks_to_boxes,
                         sample_clip_indices, warp_frame)
from .ytvis_converter import YTVISFormatError, convert_dir, convert_file, convert_ytvis

__all__ = [
    'ToyVISDataset', 'TOY_VIS_CLASSES', 'generate_toy_vis', 'render_video', 'summarize', 'YTVISFormatError',
    'convert_dir', 'convert_file', 'convert_ytvis', 'CocoPseudoVideoDataset', 'parse_cat_map',
    'youtube_vis_classes', 'OVIS_CLASSES', 'OVISDataset', 'LocalGlobalFrameSample', 'ImageToClip',
    'ClipRandomChoice', 'SkipEmptyClip', 'masks_to_boxes', 'sample_clip_indices', 'warp_frame',
    'LabelmeFormatError', 'convert_labelme', 'convert_labelme_file', 'check_cocovid', 'check_config_annotations',
]
