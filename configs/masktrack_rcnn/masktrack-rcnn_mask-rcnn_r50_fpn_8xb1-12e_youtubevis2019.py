# MaskTrack R-CNN R50-FPN on YouTube-VIS 2019 with mmdet 3.3's recipe (reported AP 30.2; README.md):
# from the COCO Mask R-CNN (a local file, see the model base), SGD 0.00125 for 8 GPUs x 1 key frame, 12 epochs.
_base_ = [
    '../_base_/models/masktrack-rcnn_r50_fpn.py', '../_base_/datasets/youtube_vis_2019_masktrack.py',
    '../_base_/schedules/masktrack_12e.py', '../_base_/default_runtime.py'
]
