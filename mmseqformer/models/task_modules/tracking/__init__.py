from .track_matching import iou_from_sums, match_links, same_class_nms, track_iou
from .window_track_linker import (WindowTrackLinker, check_window_test_cfg, next_window_start, window_starts,
                                  window_stride)

__all__ = ['WindowTrackLinker', 'check_window_test_cfg', 'iou_from_sums', 'match_links', 'next_window_start',
           'same_class_nms', 'track_iou', 'window_starts', 'window_stride']
