# Official optimisation: AdamW lr 2e-4 (16 clips), weight decay 1e-4 on all parameters, lr x0.1 for the
# backbone, sampling offsets and reference points, grad-norm clip 0.1, x0.1 at epochs 4 and 10 of 12.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.1),
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[4, 10], gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=16)
