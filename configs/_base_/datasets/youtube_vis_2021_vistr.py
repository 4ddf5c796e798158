# YouTube-VIS 2021 with the official VisTR training recipe: the 2019 VisTR pipelines and loaders with the
# 2021 classes and files (as youtube_vis_2021.py does for the SeqFormer recipe). 2021 videos have up to 72
# (train) / 84 (valid) frames, so a 36-frame training clip can miss instances of its video; the official
# code would still give those as targets absent in every frame, our per-frame annotations cannot.
_base_ = './youtube_vis_2019_vistr.py'
data_root = 'data/youtube_vis_2021/'
dataset_version = '2021'
train_dataloader = dict(
    dataset=dict(data_root=data_root, dataset_version=dataset_version,
                 ann_file='annotations/youtube_vis_2021_train.json'))
val_dataloader = dict(
    dataset=dict(data_root=data_root, dataset_version=dataset_version,
                 ann_file='annotations/youtube_vis_2021_valid.json'))
test_dataloader = val_dataloader
val_evaluator = dict(outfile_prefix='./youtube_vis_2021_results')
test_evaluator = val_evaluator
