# The toy ObjProp: as the official recipe, from a trained MaskTrack R-CNN (the shipped toy one, load_from) trained
# jointly with the propagation head, on the embedded synthetic dataset on 2 CPU cores (docs/toy_model.md).
# Smaller than the official model (stated): the toy MaskTrack R-CNN's MobileNetV2 / 64-wide FPN / 6 classes, a
# 64-wide propagation head; AdamW 2e-4 instead of SGD 0.005 (as the toy MaskTrack R-CNN); at test the toy's
# thresholds (at most 20 detections a frame with score >= 0.05) instead of ObjProp's 0.001 / 100.
_base_ = '../masktrack_rcnn/masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.py'
width = 64
model = dict(
    type='ObjPropMaskTrackRCNN',
    detector=dict(backbone=dict(init_cfg=None)),  # every MaskTrack R-CNN weight comes from load_from
    track_head=dict(embed_head=dict(type='ObjPropRoIEmbedHead', last_fc_relu=False, test_similarity='cosine')),
    prop_head=dict(type='ObjPropHead', in_channels=width, num_levels=4, channels=width, num_classes=6,
                   affinity='dot', sigma=8.0),
    tracker=dict(_delete_=True, type='ObjPropTracker', propagate=True, prop_history=24, max_prop_ids=10,
                 mask_thr=0.3, history_len=1, unique_ids=True, keep_masks=False,
                 match_weights=dict(det_score=1.0, iou=2.0, det_label=10.0), num_frames_retain=20),
    test_cfg=dict(neck_attn=False))
load_from = 'demo/checkpoints/masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.pth'
max_iters = 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[1500], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2))
