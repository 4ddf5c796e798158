from .toy_vis_dataset import ToyVISDataset
from .toy_vis_generator import CLASSES as TOY_VIS_CLASSES
from .toy_vis_generator import generate_toy_vis, render_video, summarize
from .ytvis_converter import YTVISFormatError, convert_dir, convert_file, convert_ytvis

__all__ = [
    'ToyVISDataset', 'TOY_VIS_CLASSES', 'generate_toy_vis', 'render_video', 'summarize', 'YTVISFormatError',
    'convert_dir', 'convert_file', 'convert_ytvis',
]
