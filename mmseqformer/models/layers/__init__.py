from .detr_transformer import (NoWeightsDetrTransformerDecoder, NoWeightsDetrTransformerDecoderLayer,
                               NoWeightsDetrTransformerEncoder, NoWeightsDetrTransformerEncoderLayer,
                               NoWeightsMultiheadAttention)
from .grid_sample_deform_conv import GridSampleDeformConv2d
from .inter_frame_attn_neck import InterFrameAttnNeck
from .ms_deform_attn_cpu import install_as_mmcv_pytorch_path
from .multi_scale_deformable_encoder import MultiScaleDeformableEncoder
from .seqformer_decoder import SeqFormerDecoder, refine_boxes
from .seqformer_decoder_layer import SeqFormerDecoderLayer
from .seqformer_msda import SeqFormerMSDeformAttn
from .vistr_positional_encoding import VisTRSinePositionalEncoding3D

# mmdet's deformable encoder (mmcv's MultiScaleDeformableAttention) runs mmcv's PyTorch path on CPU: importing
# the models gives it the faster equivalent, so every entry point (tools, custom_imports, the API) has it
install_as_mmcv_pytorch_path()

__all__ = ['MultiScaleDeformableEncoder', 'SeqFormerMSDeformAttn', 'SeqFormerDecoderLayer', 'SeqFormerDecoder',
           'refine_boxes', 'NoWeightsMultiheadAttention', 'NoWeightsDetrTransformerEncoderLayer',
           'NoWeightsDetrTransformerDecoderLayer', 'NoWeightsDetrTransformerEncoder', 'NoWeightsDetrTransformerDecoder',
           'GridSampleDeformConv2d', 'InterFrameAttnNeck', 'VisTRSinePositionalEncoding3D']
