from .seqformer_head import SeqFormerHead
from .seqformer_mask_head import SeqFormerMaskHead

__all__ = ['SeqFormerHead', 'SeqFormerMaskHead']
