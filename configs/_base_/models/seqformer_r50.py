# SeqFormer R50 (official configs/r50_seqformer.sh): 300 queries, 6+6 layers, box refinement,
# dynamic masks with relative coordinates. num_classes is set by the dataset config.
model = dict(
    type='SeqFormer',
    num_queries=300,
    num_feature_levels=4,
    data_preprocessor=dict(
        type='VideoDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,  # training; test videos are not padded (test_pad_size_divisor=1)
        test_pad_size_divisor=1,
        pad_mask=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=None),  # official: COCO-pretrained SeqFormer weights, see configs/seqformer/README.md
    neck=dict(
        type='ChannelMapper',
        in_channels=[512, 1024, 2048],
        kernel_size=1,
        out_channels=256,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        bias=True,  # the conv bias before GroupNorm is not redundant
        num_outs=4),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8, num_levels=4, num_points=4, dropout=0.1,
                               batch_first=True),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=1024, ffn_drop=0.1,
                         act_cfg=dict(type='ReLU', inplace=True)))),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.1, batch_first=True),
            cross_attn_cfg=dict(embed_dims=256, num_heads=8, num_levels=4, num_points=4, batch_first=True),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=1024, num_fcs=2, ffn_drop=0.1,
                         act_cfg=dict(type='ReLU', inplace=True)),
            dropout=0.1)),
    positional_encoding=dict(num_feats=128, normalize=True, offset=-0.5),
    track_head=dict(
        type='SeqFormerHead',
        num_classes=40,
        embed_dims=256,
        num_pred_layer=6,
        sync_cls_avg_factor=False,
        mask_head=dict(type='SeqFormerMaskHead', embed_dims=256, mask_channels=8, dynamic_channels=8,
                       num_dynamic_layers=3, rel_coord=True, feat_stride=8),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_mask=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, naive_dice=True, eps=1.0,
                       loss_weight=5.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0, eps=1e-8),
                # official: Euclidean distance over the concatenated T*4 box vector, absent frames included
                dict(type='VideoBBoxDistanceCost', weight=5.0, p=2, mask_absent=False),
                dict(type='VideoGIoUCost', weight=2.0, mask_absent=False)
            ])),
    test_cfg=dict(max_per_video=10, mask_thr=0.5, drop_empty=True))
