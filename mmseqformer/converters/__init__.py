"""Offline data converters: official YouTube-VIS/OVIS -> CocoVID, labelme frames -> YouTube-VIS, the toy set.

They write annotation files for the dataset classes of :mod:`mmseqformer.datasets` and register nothing; the
command-line front ends are in ``tools/dataset_converters/``.
"""
from .labelme_converter import LabelmeFormatError, convert_labelme, convert_labelme_file
from .toy_vis_generator import format_summary, generate_toy_vis, render_video, summarize
from .toy_vis_subsets import occluded_video_ids, write_video_subset
from .ytvis_converter import LAYOUTS, convert_dir, convert_file, convert_ytvis

__all__ = [
    'LabelmeFormatError', 'convert_labelme', 'convert_labelme_file', 'format_summary', 'generate_toy_vis',
    'render_video', 'summarize', 'LAYOUTS', 'convert_dir', 'convert_file', 'convert_ytvis',
    'occluded_video_ids', 'write_video_subset'
]
