# toy_vis (see toy_vis.py) with the VisTR training recipe of youtube_vis_2019_vistr.py scaled to the 192..320 px
# toy frames: clips of num_frames consecutive frames ending at every frame (cyclic), clip-shared flip and
# resize to short side 192..320, per-frame PhotoMetricDistortion, short side 224/256/288, one 192-288 px window
# per side (instances outside it kept), final short side 192 (long side <= 320). Test: short side 192.
# A config changes the clip length or sizes through the base variables, e.g.
#   train_pipeline = _base_.train_pipeline
#   train_pipeline[0]['num_frames'] = 6
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
_base_ = './toy_vis.py'
num_frames = 8
backend_args = None

train_scales = [192, 224, 256, 288, 320]  # short side
crop_scales = [224, 256, 288]
crop_size = (192, 288)
final_scale = (320, 192)  # (max long side, short side)
train_pipeline = [
    dict(type='ClipEndingAtFrameSample', num_frames=num_frames, cyclic=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomChoiceResize', scales=[(512, s) for s in train_scales], keep_ratio=True),
        ]),
    dict(type='TransformBroadcaster', share_random_params=False, transforms=[dict(type='PhotoMetricDistortion')]),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='RandomChoiceResize', scales=[(100000, s) for s in crop_scales], keep_ratio=True),
            dict(type='RandomCropKeepInstances', crop_size=crop_size, crop_type='absolute_range'),
            dict(type='Resize', scale=final_scale, keep_ratio=True),
        ]),
    dict(type='SkipEmptyClip'),
    dict(type='PackTrackInputs')
]
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=(100000, final_scale[1]), keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(
    batch_size=1,
    sampler=dict(_delete_=True, type='TrackImgSampler'),  # every frame ends one clip per epoch
    dataset=dict(filter_cfg=dict(filter_empty_gt=False, min_size=0), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
