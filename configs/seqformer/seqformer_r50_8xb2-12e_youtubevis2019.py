_base_ = [
    '../_base_/models/seqformer_r50.py', '../_base_/datasets/youtube_vis_2019.py',
    '../_base_/schedules/seqformer_12e.py', '../_base_/default_runtime.py'
]
model = dict(track_head=dict(num_classes=40))
