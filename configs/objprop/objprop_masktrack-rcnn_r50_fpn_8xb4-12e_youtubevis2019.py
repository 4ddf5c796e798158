# ObjProp R50-FPN on YouTube-VIS 2019 (reported AP 36.0; README.md), the official recipe: from a trained MaskTrack
# R-CNN (load_from: a local file, see README.md), jointly trained with the propagation head; SGD 0.005 for 4 key
# frames per GPU (the GPU count is not stated; 8 assumed by the name), weight decay 1e-4, clip 35, warm-up 500
# iterations from 1/3, 12 epochs, x0.1 after 8 and 11; 640x360, flip 0.5.
_base_ = [
    '../_base_/models/objprop_r50_fpn.py', '../_base_/datasets/youtube_vis_2019_masktrack.py',
    '../_base_/schedules/masktrack_12e.py', '../_base_/default_runtime.py'
]
model = dict(detector=dict(init_cfg=None))  # every MaskTrack R-CNN weight comes from load_from
load_from = 'data/pretrained/masktrack_rcnn_r50_fpn_12e_youtubevis2019_20211022_194830-6ca6b91e.pth'
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(lr=0.005))
auto_scale_lr = dict(enable=False, base_batch_size=32)
