from .assigners import SequenceHungarianAssigner
from .sequence_match_costs import SequenceBBoxL1Cost, SequenceIoUCost, SequenceSoftmaxClassCost
from .tracking import WindowTrackLinker
from .video_match_costs import VideoBBoxDistanceCost, VideoGIoUCost

__all__ = [
    'SequenceBBoxL1Cost', 'SequenceHungarianAssigner', 'SequenceIoUCost', 'SequenceSoftmaxClassCost',
    'VideoBBoxDistanceCost', 'VideoGIoUCost', 'WindowTrackLinker'
]
