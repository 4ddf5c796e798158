from .vis_local_visualizer import VISLocalVisualizer

__all__ = ['VISLocalVisualizer']
