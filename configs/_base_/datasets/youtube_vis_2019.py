# YouTube-VIS 2019 through mmdet's YouTubeVISDataset on the CocoVID json written by
# tools/dataset_converters/youtubevis2coco.py (see docs/dataset_prepare.md for the layout).
dataset_type = 'YouTubeVISDataset'
data_root = 'data/youtube_vis_2019/'
dataset_version = '2019'
num_frames = 5
backend_args = None

# Official training augmentation (seqformer_reference.md §8). Geometric steps share their random
# parameters over the clip (same flip, scale and crop window for every frame); the photometric distortion
# is drawn per frame, hence its own broadcaster without sharing. The "RandomSelect" is
# ClipRandomChoice: mmcv's RandomChoice fails under share_random_params (see its docstring).
train_scales = [288, 320, 352, 392, 416, 448, 480, 512]  # short side
max_size = 768  # long side
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
                        # short side 400/500/600 without a maximum long side
                        dict(type='RandomChoiceResize', scales=[(100000, s) for s in (400, 500, 600)],
                             keep_ratio=True),
                        # a frame left without instances must not return None inside the broadcaster
                        dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                             allow_negative_crop=True),
                        resize_scales,
                    ],
                ]),
        ]),
    # a clip without any instance is replaced by another random one, as the official does
    dict(type='SkipEmptyClip'),
    dict(type='PackTrackInputs')
]
# Official inference: short side 360, no maximum size, no padding.
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=(100000, 360), keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    # One sample per (video, annotated frame) per epoch, the frame being the clip's anchor: the
    # official epoch, so the 12-epoch schedule with drops at 4 and 10 means what it did officially.
    sampler=dict(type='TrackImgSampler'),
    batch_sampler=dict(type='TrackAspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        dataset_version=dataset_version,
        ann_file='annotations/youtube_vis_2019_train.json',
        data_prefix=dict(img_path='train/JPEGImages'),
        # the official samples anchors among all frames, also those without instances (min_size 0 keeps all)
        filter_cfg=dict(filter_empty_gt=False, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        dataset_version=dataset_version,
        ann_file='annotations/youtube_vis_2019_valid.json',
        data_prefix=dict(img_path='valid/JPEGImages'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# The official valid split has no public ground truth: write the server submission.
val_evaluator = dict(type='YouTubeVISMetric', metric='youtube_vis_ap', outfile_prefix='./youtube_vis_results',
                     format_only=True)
test_evaluator = val_evaluator
