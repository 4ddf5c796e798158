from .tracking import WindowTrackLinker
from .video_match_costs import VideoBBoxDistanceCost, VideoGIoUCost

__all__ = ['VideoBBoxDistanceCost', 'VideoGIoUCost', 'WindowTrackLinker']
