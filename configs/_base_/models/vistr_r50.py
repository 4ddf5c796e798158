# VisTR R50 (official main.py defaults with --masks): 36 frames x 10 queries, hidden 384, 8 heads, 6+6 post-norm
# layers, FFN 2048, dropout 0.1; frozen-BN ResNet-50 returning C2-C5. num_classes is set by the dataset config.
model = dict(
    type='VisTR',
    num_frames=36,
    queries_per_frame=10,
    embed_dims=384,
    data_preprocessor=dict(
        type='VideoDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,  # official: clips are batched without padding to /32
        test_pad_size_divisor=1,
        pad_mask=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=None),  # official: the author's DETR-384 COCO weights, see configs/vistr/README.md
    positional_encoding=dict(type='VisTRSinePositionalEncoding3D', num_feats=128, normalize=True),
    encoder=dict(
        type='NoWeightsDetrTransformerEncoder',
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=384, num_heads=8, attn_drop=0.1,
                               dropout_layer=dict(type='Dropout', drop_prob=0.1), batch_first=True),
            ffn_cfg=dict(embed_dims=384, feedforward_channels=2048, num_fcs=2, ffn_drop=0.1,
                         act_cfg=dict(type='ReLU', inplace=True)))),
    decoder=dict(
        type='NoWeightsDetrTransformerDecoder',
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=384, num_heads=8, attn_drop=0.1,
                               dropout_layer=dict(type='Dropout', drop_prob=0.1), batch_first=True),
            cross_attn_cfg=dict(embed_dims=384, num_heads=8, attn_drop=0.1,
                                dropout_layer=dict(type='Dropout', drop_prob=0.1), batch_first=True),
            ffn_cfg=dict(embed_dims=384, feedforward_channels=2048, num_fcs=2, ffn_drop=0.1,
                         act_cfg=dict(type='ReLU', inplace=True))),
        return_intermediate=True),
    mask_head=dict(
        type='VisTRMaskHead',
        num_heads=8,
        out_channels=24,
        inst_channels=12,
        deform_conv='mmcv',  # 'pytorch': grid_sample DCN (ONNX export, no mmcv ops)
        im2col_step=64),
    track_head=dict(
        type='VisTRHead',
        num_classes=40,
        embed_dims=384,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_mask=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, naive_dice=True, eps=1.0,
                       loss_weight=1.0),
        no_object_weight=0.1),
    train_cfg=dict(
        assigner=dict(
            type='SequenceHungarianAssigner',
            fix_valid_index=False,  # True fixes VisTR#80 (the official matcher pairs frames by the wrong gt)
            match_costs=[
                dict(type='SequenceSoftmaxClassCost', weight=1.0),
                dict(type='SequenceBBoxL1Cost', weight=5.0),
                dict(type='SequenceIoUCost', weight=2.0)
            ])),
    # Videos up to num_frames frames are one clip, as in the official inference; longer ones go in windows of
    # window_size frames (default num_frames) every window_stride (default half of it), linked into tracks by mask
    # IoU on the overlap (not official: its inference reads only the first 36 frames).
    test_cfg=dict(max_per_video=10, mask_thr=0.5, drop_empty=True))
