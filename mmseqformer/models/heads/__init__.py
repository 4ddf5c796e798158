from .objprop_embed_head import ObjPropRoIEmbedHead
from .objprop_head import ObjPropHead
from .seqformer_head import SeqFormerHead
from .seqformer_mask_head import SeqFormerMaskHead
from .vistr_head import VisTRHead
from .vistr_mask_head import VisTRMaskHead

__all__ = ['ObjPropHead', 'ObjPropRoIEmbedHead', 'SeqFormerHead', 'SeqFormerMaskHead', 'VisTRHead', 'VisTRMaskHead']
