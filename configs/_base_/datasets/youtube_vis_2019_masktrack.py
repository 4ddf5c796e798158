# YouTube-VIS 2019 for MaskTrack R-CNN / ObjProp: the loaders, files and evaluator of youtube_vis_2019.py with the
# pipelines of mmdet 3.3's configs/_base_/datasets/youtube_vis.py and batches of one key frame: every annotated
# frame is a key frame once per epoch (TrackImgSampler), with one reference frame drawn uniformly within +-100
# frames of it (the key excluded); key and reference share the flip and the resize to fit 640x360. Inference:
# frames resized to fit 640x360, one at a time.
_base_ = './youtube_vis_2019.py'
backend_args = None
test_scale = (640, 360)  # (max long side, max short side), keep_ratio

train_pipeline = [
    dict(type='UniformRefFrameSample', num_ref_imgs=1, frame_range=100, filter_key_img=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='Resize', scale=test_scale, keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ]),
    dict(type='PackTrackInputs')
]
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=test_scale, keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
