# MaskTrack R-CNN R50-FPN on YouTube-VIS 2021 (reported AP 28.7; README.md).
_base_ = [
    '../_base_/models/masktrack-rcnn_r50_fpn.py', '../_base_/datasets/youtube_vis_2021_masktrack.py',
    '../_base_/schedules/masktrack_12e.py', '../_base_/default_runtime.py'
]
