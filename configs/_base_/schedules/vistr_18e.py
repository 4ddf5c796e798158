# Official VisTR optimisation (V:main.py): AdamW lr 1e-4, backbone lr 1e-5 (x0.1), weight decay 1e-4 on all
# parameters, grad-norm clip 0.1, 18 epochs with lr x0.1 after epoch 12 (StepLR(12) over 18 epochs), 8 GPUs x 1
# clip, seed 42 (+ rank, as the official seeds each process with args.seed + rank).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
max_epochs = 18
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')  # the runner's test loop; the model's test_cfg is in the model base
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[12], gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=42, diff_rank_seed=True)
