default_scope = 'mmdet'
custom_imports = dict(imports=['mmseqformer'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1),  # temp file + rename; last_checkpoint too
    sampler_seed=dict(type='DistSamplerSeedHook'),
    rng_state=dict(type='RNGStateHook'),  # checkpoints carry the RNG states; --resume restores them
    nonfinite_loss=dict(type='NonFiniteLossHook', action='stop'),  # or 'skip'
    visualization=dict(type='TrackVisualizationHook', draw=False))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
# the drawer of tools/test.py --show-dir and of demo/video_demo.py: `class | id | score` labels
visualizer = dict(
    type='VISLocalVisualizer', vis_backends=vis_backends, name='visualizer', alpha=0.5, line_width=2)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
