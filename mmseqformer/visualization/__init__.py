from .video_writer import VideoWriteError, VideoWriter, read_video_info
from .vis_local_visualizer import VISLocalVisualizer

__all__ = ['VISLocalVisualizer', 'VideoWriter', 'VideoWriteError', 'read_video_info']
