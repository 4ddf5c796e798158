# ObjProp + the follow-up study's attention neck: in training the RPN sees each FPN level of the key frame attended
# to the reference frame's (InterFrameAttnNeck: shared first conv, values from the key frame, softmax over the
# reference positions, gamma from 0.5). At test the RPN sees the plain levels, as in the original; with
# `--cfg-options model.test_cfg.neck_attn=True` it sees them attended to the previous frame (the first to itself).
_base_ = './objprop_masktrack-rcnn_r50_fpn_8xb4-12e_youtubevis2019.py'
model = dict(neck_attn=dict(type='InterFrameAttnNeck', channels=256, gamma_init=0.5), test_cfg=dict(neck_attn=False))
