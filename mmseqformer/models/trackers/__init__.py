from .bounded_masktrack_tracker import BoundedMaskTrackRCNNTracker
from .objprop_tracker import ObjPropTracker

__all__ = ['BoundedMaskTrackRCNNTracker', 'ObjPropTracker']
