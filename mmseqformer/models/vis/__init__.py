from .base_vis_model import BaseVISModel, drop_empty_tracks, frame_instances
from .clip_decoding import ClipDecoding
from .deformable_vistr import DeformableVisTR
from .objprop import ObjPropMaskTrackRCNN
from .offline_clip_model import OfflineClipVISModel
from .online_masktrack_rcnn import OnlineMaskTrackRCNN
from .online_model import OnlineVISModel
from .seqformer import SeqFormer
from .vistr import VisTR
from .window_mask_store import WindowMaskStore

__all__ = ['BaseVISModel', 'ClipDecoding', 'DeformableVisTR', 'ObjPropMaskTrackRCNN', 'OfflineClipVISModel',
           'OnlineMaskTrackRCNN', 'OnlineVISModel', 'SeqFormer', 'VisTR', 'WindowMaskStore',
           'drop_empty_tracks', 'frame_instances']
