# ObjProp trained on ordered pairs: the reference frame is the frame before the key frame (the first frame takes
# the next one), what the tracker sees at test time, instead of one drawn uniformly within +-100 frames.
_base_ = './objprop_masktrack-rcnn_r50_fpn_8xb4-12e_youtubevis2019.py'
train_pipeline = [
    dict(type='PreviousRefFrameSample'),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='Resize', scale=(640, 360), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
