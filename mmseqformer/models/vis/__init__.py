from .base_vis_model import BaseVISModel, drop_empty_tracks, frame_instances
from .clip_decoding import ClipDecoding
from .deformable_vistr import DeformableVisTR
from .deploy_graph import DeployGraph
from .objprop import ObjPropMaskTrackRCNN
from .offline_clip_model import OfflineClipVISModel
from .online_masktrack_rcnn import OnlineMaskTrackRCNN
from .online_model import OnlineVISModel
from .seqformer import SeqFormer
from .seqformer_clip import SeqFormerClip
from .vistr import VisTR
from .window_mask_store import WindowMaskStore

__all__ = ['BaseVISModel', 'ClipDecoding', 'DeformableVisTR', 'DeployGraph', 'ObjPropMaskTrackRCNN',
           'OfflineClipVISModel', 'OnlineMaskTrackRCNN', 'OnlineVISModel', 'SeqFormer', 'SeqFormerClip', 'VisTR',
           'WindowMaskStore', 'drop_empty_tracks', 'frame_instances']
