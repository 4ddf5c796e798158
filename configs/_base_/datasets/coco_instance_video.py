# COCO instance segmentation as 1-frame videos, for image pretraining of video models.
# mmdet's YouTubeVISDataset reads a plain COCO instances json: an image without `video_id` becomes a
# video of length 1 and `instance_id` falls back to the annotation's index in its image. The dataset
# class sets YouTube-VIS classes from `dataset_version`; `metainfo` below replaces them with COCO's 80.
dataset_type = 'YouTubeVISDataset'
data_root = 'data/coco/'
backend_args = None
coco_classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
    'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')
# Deformable-DETR COCO augmentation (flip, then either a multi-scale resize or resize-crop-resize),
# applied through the video broadcaster so the same pipeline code serves T=1 clips. One frame has
# nothing to share random parameters with, and sharing would break here: mmdet's AutoAugment subclass
# registers `random_pipeline_index` a second time on mmcv's RandomChoice, so under
# `share_random_params=True` every RandomChoice call counts twice and raises a RuntimeError
# (multi-frame pipelines use ClipRandomChoice instead).
detr_scales = [(1333, s) for s in (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)]
train_pipeline = [
    dict(type='BaseFrameSample'),  # the single frame of the pseudo video
    dict(
        type='TransformBroadcaster',
        share_random_params=False,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='RandomFlip', prob=0.5),
            dict(
                type='RandomChoice',
                transforms=[
                    [dict(type='RandomChoiceResize', scales=detr_scales, keep_ratio=True)],
                    [
                        dict(type='RandomChoiceResize', scales=[(4200, 400), (4200, 500), (4200, 600)],
                             keep_ratio=True),
                        # a crop that empties the frame must not return None inside the broadcaster
                        dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                             allow_negative_crop=True),
                        dict(type='RandomChoiceResize', scales=detr_scales, keep_ratio=True),
                    ],
                ]),
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='TrackAspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        dataset_version='2019',  # required by the class; its classes are overridden by metainfo
        metainfo=dict(classes=coco_classes),
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
# No in-training evaluation: YouTubeVISMetric needs video ground truth and mmdet's CocoMetric does not
# read TrackDataSample predictions; the pretrained weights are judged after fine-tuning on YouTube-VIS.
val_dataloader = None
val_evaluator = None
test_dataloader = None
test_evaluator = None
