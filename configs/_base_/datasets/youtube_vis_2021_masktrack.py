# YouTube-VIS 2021 for MaskTrack R-CNN / ObjProp: the 2019 pipelines and loaders with the 2021 classes and files.
_base_ = './youtube_vis_2019_masktrack.py'
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
