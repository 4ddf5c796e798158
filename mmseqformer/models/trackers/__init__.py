from .bounded_masktrack_tracker import BoundedMaskTrackRCNNTracker

__all__ = ['BoundedMaskTrackRCNNTracker']
