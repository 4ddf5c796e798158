from .seqformer_decoder import SeqFormerDecoder, refine_boxes
from .seqformer_decoder_layer import SeqFormerDecoderLayer
from .seqformer_msda import SeqFormerMSDeformAttn

__all__ = ['SeqFormerMSDeformAttn', 'SeqFormerDecoderLayer', 'SeqFormerDecoder', 'refine_boxes']
