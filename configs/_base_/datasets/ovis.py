# OVIS: the YouTube-VIS pipelines and loaders with OVISDataset (25 classes) and the OVIS layout: frames in
# {train,valid}/<video>/, CocoVID files from
# tools/dataset_converters/youtubevis2coco.py -i <root> -o <root>/annotations --version ovis
# (annotations_{split}.json -> ovis_{split}.json).
_base_ = './youtube_vis_2019.py'
dataset_type = 'OVISDataset'
data_root = 'data/ovis/'
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, dataset_version=None, ann_file='annotations/ovis_train.json',
                 data_prefix=dict(img_path='train')))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, dataset_version=None, ann_file='annotations/ovis_valid.json',
                 data_prefix=dict(img_path='valid')))
test_dataloader = val_dataloader
# no public ground truth for valid: write the server submission
val_evaluator = dict(outfile_prefix='./ovis_results')
test_evaluator = val_evaluator
