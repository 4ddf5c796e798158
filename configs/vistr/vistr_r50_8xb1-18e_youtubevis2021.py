# VisTR R50 on YouTube-VIS 2021 (40 classes, as 2019): the 2019 recipe and schedule with the 2021 files. No
# official 2021 run exists. 2021 videos reach 72 (train) / 84 (valid) frames: a 36-frame training clip covers
# part of a long video, and inference runs in overlapping windows past 36 frames.
_base_ = [
    '../_base_/models/vistr_r50.py', '../_base_/datasets/youtube_vis_2021_vistr.py',
    '../_base_/schedules/vistr_18e.py', '../_base_/default_runtime.py'
]
model = dict(track_head=dict(num_classes=40))
# the same DETR-384 COCO init as the 2019 config (see vistr_r50_8xb1-18e_youtubevis2019.py)
load_from = 'checkpoints/vistr_r50_detr384-coco.pth'
