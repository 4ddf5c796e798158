# ObjProp trained on ordered pairs: the reference frame is the frame before the key frame (the first frame takes
# the next one), what the tracker sees at test time, instead of one drawn uniformly within +-100 frames.
_base_ = './objprop_masktrack-rcnn_r50_fpn_8xb4-12e_youtubevis2019.py'
train_pipeline = _base_.train_pipeline
train_pipeline[0] = dict(type='PreviousRefFrameSample')
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
