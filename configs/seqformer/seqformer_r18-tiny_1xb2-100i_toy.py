# A deliberately tiny SeqFormer (ResNet-18 from scratch, 64 dims, 2+2 layers, 12 queries) on the toy set.
# It exists for fast end-to-end checks of the tools (CI trains it for a few iterations); it does not
# aim at accuracy: see the toy-model config for that.
_base_ = [
    '../_base_/models/seqformer_r50.py', '../_base_/datasets/toy_vis.py', '../_base_/default_runtime.py'
]
dims = 64
attn = dict(embed_dims=dims, num_heads=8, num_levels=4, num_points=2, batch_first=True)
ffn = dict(embed_dims=dims, feedforward_channels=128, ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    num_queries=12,
    backbone=dict(depth=18),
    neck=dict(in_channels=[128, 256, 512], out_channels=dims),
    encoder=dict(num_layers=2, layer_cfg=dict(self_attn_cfg=dict(attn, dropout=0.1), ffn_cfg=ffn)),
    decoder=dict(num_layers=2, layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=dims, num_heads=8, dropout=0.1, batch_first=True),
        cross_attn_cfg=attn, ffn_cfg=dict(ffn, num_fcs=2))),
    positional_encoding=dict(num_feats=dims // 2),
    track_head=dict(num_classes=6, embed_dims=dims, num_pred_layer=2, mask_head=dict(embed_dims=dims)))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
                     clip_grad=dict(max_norm=0.1, norm_type=2))
max_iters = 100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[80], gamma=0.1)]
default_hooks = dict(logger=dict(type='LoggerHook', log_metric_by_epoch=False, interval=10),
                     checkpoint=dict(by_epoch=False, interval=50))
log_processor = dict(by_epoch=False)
