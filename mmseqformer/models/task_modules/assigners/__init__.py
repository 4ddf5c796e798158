from .sequence_hungarian_assigner import SequenceHungarianAssigner

__all__ = ['SequenceHungarianAssigner']
