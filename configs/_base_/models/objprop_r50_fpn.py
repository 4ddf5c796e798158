# ObjProp (arXiv 2111.07529): MaskTrack R-CNN R50-FPN (masktrack-rcnn_r50_fpn.py) + the propagation head, with
# ObjProp's test-time settings: embeddings without the last fc's ReLU (in training too) compared by cosine
# similarity, RPN 1000 proposals, detections with score >= 0.001, 100 per frame. The tracker propagates missed
# objects from the last 24 frames (propagate=False: the released code's behaviour, MaskTrack R-CNN's tracking).
_base_ = './masktrack-rcnn_r50_fpn.py'
model = dict(
    type='ObjPropMaskTrackRCNN',
    detector=dict(
        test_cfg=dict(
            rpn=dict(nms_pre=1000, max_per_img=1000),
            rcnn=dict(score_thr=0.001, max_per_img=100))),
    track_head=dict(embed_head=dict(type='ObjPropRoIEmbedHead', last_fc_relu=False, test_similarity='cosine')),
    prop_head=dict(type='ObjPropHead', in_channels=256, num_levels=4, channels=256, num_classes=40,
                   affinity='dot', sigma=8.0),
    tracker=dict(type='ObjPropTracker', propagate=True, prop_history=24, max_prop_ids=10, mask_thr=0.3),
    test_cfg=dict(neck_attn=False))
