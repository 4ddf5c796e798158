# toy_vis (see toy_vis.py) with MaskTrack R-CNN's key + reference frame sampling (youtube_vis_2019_masktrack.py):
# every frame is a key frame once per epoch, one reference frame uniformly within +-100 frames (not the key; a
# 1-frame video is its own reference); shared flip and resize to short side 160..256 (toy frames are 192..320 px),
# per-frame photometric distortion. Test: original size (toy_vis.py).
_base_ = './toy_vis.py'
backend_args = None
train_scales = [(100000, s) for s in (160, 192, 224, 256)]  # short side, no long-side limit
train_pipeline = [
    dict(type='UniformRefFrameSample', num_ref_imgs=1, frame_range=100, filter_key_img=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ]),
    dict(type='TransformBroadcaster', share_random_params=False, transforms=[dict(type='PhotoMetricDistortion')]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(
    batch_size=1,
    sampler=dict(_delete_=True, type='TrackImgSampler'),  # every frame is a key frame once per epoch
    dataset=dict(filter_cfg=dict(filter_empty_gt=False, min_size=0), pipeline=train_pipeline))
