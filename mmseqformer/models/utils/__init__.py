from .seqformer_converter import (DROPPED_KEY_PATTERNS, UnknownKeyError, convert_official_key,
                                  convert_official_state_dict)
from .video_targets import ABSENT_BOX_VALUE, build_video_targets

__all__ = ['build_video_targets', 'ABSENT_BOX_VALUE', 'convert_official_state_dict', 'UnknownKeyError',
           'DROPPED_KEY_PATTERNS', 'convert_official_key']
