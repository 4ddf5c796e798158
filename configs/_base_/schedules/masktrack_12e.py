# MaskTrack R-CNN optimisation as mmdet 3.3's configs: SGD lr 0.00125 (8 GPUs x 1 key frame), momentum 0.9,
# weight decay 1e-4, grad-norm clip 35, linear warm-up from 1/3 over 500 iterations, 12 epochs, x0.1 after 8 and 11.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.00125, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=max_epochs + 1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')  # the runner's test loop; the model's test_cfg is in the model base
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3.0, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
