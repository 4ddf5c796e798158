# The embedded synthetic dataset (tools/dataset_converters/make_toy_vis.py, docs/toy_dataset.md).
# Its valid split has ground truth, so evaluation computes AP locally.
dataset_type = 'ToyVISDataset'
data_root = 'data/toy_vis/'
num_frames = 5
backend_args = None

# The official SeqFormer sampling and augmentation family (see youtube_vis_2019.py) with scales for the
# 192..320 px toy frames: the official scales times ~0.65, long side at most 512.
train_scales = [192, 224, 256, 288, 320]  # short side
max_size = 512  # long side
resize_scales = dict(type='RandomChoiceResize', scales=[(max_size, s) for s in train_scales], keep_ratio=True)
train_pipeline = [
    dict(type='LocalGlobalFrameSample', num_frames=num_frames),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='RandomFlip', prob=0.5),
        ]),
    dict(type='TransformBroadcaster', share_random_params=False, transforms=[dict(type='PhotoMetricDistortion')]),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(
                type='ClipRandomChoice',
                transforms=[
                    [resize_scales],
                    [
                        dict(type='RandomChoiceResize', scales=[(100000, s) for s in (256, 320, 384)],
                             keep_ratio=True),
                        dict(type='RandomCrop', crop_type='absolute_range', crop_size=(240, 384),
                             allow_negative_crop=True),
                        resize_scales,
                    ],
                ]),
        ]),
    dict(type='SkipEmptyClip'),
    dict(type='PackTrackInputs')
]
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='TrackAspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/toy_vis_train.json',
        data_prefix=dict(img_path='train/JPEGImages'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/toy_vis_valid.json',
        data_prefix=dict(img_path='valid/JPEGImages'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='YouTubeVISMetric', metric='youtube_vis_ap',
                     metric_items=['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@1', 'AR@10'])
test_evaluator = val_evaluator
