# Deformable-VisTR R50 on YouTube-VIS 2019: VisTR's 36 x 10 frame-major queries, class/box head and mask head on
# a per-frame multi-scale deformable encoder (the idea of DefVIS, Yan et al., ICASSP 2022, arXiv 2203.06318;
# mmseqformer/models/vis/deformable_vistr.py). C3..C5 and a stride-64 level (ChannelMapper + GN, as SeqFormer /
# Deformable DETR) go through SeqFormer's encoder stage (MultiScaleDeformableEncoder: 6 layers, 8 heads, 4 levels,
# 4 points); VisTR's post-norm DETR decoder attends to the memory of all 36 frames and 4 levels with VisTR's 3D sine
# positions plus level embeddings; the mask head reads the stride-32 level. Not DefVIS itself: its decoder attention
# is also deformable (over space and time), its MSDA CUDA code is not published, and no AP is claimed here.
# DefVIS defaults (DefVIS main.py): d 384, FFN 2048, dropout 0.1, 36 frames, AdamW lr 1e-4 (backbone 1e-5), weight
# decay 1e-4, grad clip 0.1, 60 epochs with lr x0.1 after 40. Data: the official VisTR recipe of the base config.
_base_ = ['./vistr_r50_8xb1-18e_youtubevis2019.py']
dims = 384
num_levels = 4
model = dict(
    type='DeformableVisTR',
    num_feature_levels=num_levels,
    mask_memory_level=2,  # stride 32 (C5's resolution, as VisTR's mask head)
    neck=dict(
        type='ChannelMapper',
        in_channels=[512, 1024, 2048],
        kernel_size=1,
        out_channels=dims,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        bias=True,
        num_outs=num_levels),
    encoder=dict(
        _delete_=True,
        type='MultiScaleDeformableEncoder',
        num_layers=6,
        num_levels=num_levels,
        positional_encoding=dict(num_feats=dims // 2, normalize=True, offset=-0.5),
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, num_heads=8, num_levels=num_levels, num_points=4, dropout=0.1,
                               batch_first=True),
            ffn_cfg=dict(embed_dims=dims, feedforward_channels=2048, ffn_drop=0.1,
                         act_cfg=dict(type='ReLU', inplace=True)))))
# Init: DefVIS starts from Deformable-DETR COCO weights, which have no d-384 release and no converter here. The
# inherited load_from (VisTR's DETR-384 COCO conversion, see configs/vistr/README.md) is loaded non-strictly: the
# backbone, decoder, heads and the encoder layers' FFN and norms take its weights; the deformable attention, the
# neck and the level embeddings keep their init. Train from scratch with --cfg-options load_from=None.
max_epochs = 60
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)]
