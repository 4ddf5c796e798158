# Joint training on YouTube-VIS 2019 and COCO pseudo videos, as the official SeqFormer (its "coco" runs):
# ConcatDataset([YouTube-VIS, COCO images of the shared categories turned into 5-frame clips]).
_base_ = ['./youtube_vis_2019.py', './coco2ytvis2019.py']
coco_data_root = 'data/coco/'

# The official YouTube-VIS set has one item per (video, annotated frame); mmdet's has one per video.
# Repeating the videos 28 times (~61.8k annotated frames / 2238 videos) keeps the official balance
# between the two parts of the concatenation.
ytvis_repeats = 28

# Same augmentation as the videos minus the photometric distortion (official); the clip is made from
# the loaded image and its masks before the shared geometric steps.
coco_train_pipeline = [
    dict(type='BaseFrameSample'),  # the single frame of the 1-frame video
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='ImageToClip', num_frames=_base_.num_frames),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(
                type='ClipRandomChoice',
                transforms=[
                    [_base_.resize_scales],
                    [
                        dict(type='RandomChoiceResize', scales=[(100000, s) for s in (400, 500, 600)],
                             keep_ratio=True),
                        dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                             allow_negative_crop=True),
                        _base_.resize_scales,
                    ],
                ]),
        ]),
    dict(type='SkipEmptyClip'),
    dict(type='PackTrackInputs')
]
coco_dataset = dict(
    type='CocoPseudoVideoDataset',
    dataset_version=_base_.dataset_version,  # labels in the YouTube-VIS 2019 label space
    cat_map=_base_.coco2ytvis2019,
    min_instances=1,
    max_instances=25,
    data_root=coco_data_root,
    ann_file='annotations/instances_train2017.json',
    data_prefix=dict(img_path='train2017/'),
    pipeline=coco_train_pipeline)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(type='RepeatDataset', times=ytvis_repeats, dataset=_base_.train_dataloader.dataset),
            coco_dataset,
        ]))
