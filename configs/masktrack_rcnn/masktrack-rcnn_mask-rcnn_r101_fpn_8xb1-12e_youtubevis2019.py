# MaskTrack R-CNN R101-FPN on YouTube-VIS 2019 (README.md), from the COCO Mask R-CNN R101:
#   https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r101_fpn_1x_coco/
#       mask_rcnn_r101_fpn_1x_coco_20200204-1efe0ed5.pth   ->   data/pretrained/
_base_ = ['./masktrack-rcnn_mask-rcnn_r50_fpn_8xb1-12e_youtubevis2019.py']
model = dict(detector=dict(
    backbone=dict(depth=101),
    init_cfg=dict(type='Pretrained', checkpoint='data/pretrained/mask_rcnn_r101_fpn_1x_coco_20200204-1efe0ed5.pth')))
