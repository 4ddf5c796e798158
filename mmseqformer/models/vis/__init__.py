from .base_vis_model import BaseVISModel, drop_empty_tracks, frame_instances
from .clip_decoding import ClipDecoding, LinkedWindows
from .offline_clip_model import OfflineClipVISModel
from .online_model import OnlineVISModel
from .seqformer import SeqFormer

__all__ = ['BaseVISModel', 'ClipDecoding', 'LinkedWindows', 'OfflineClipVISModel', 'OnlineVISModel', 'SeqFormer',
           'drop_empty_tracks', 'frame_instances']
