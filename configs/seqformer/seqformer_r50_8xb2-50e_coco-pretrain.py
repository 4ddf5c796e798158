# COCO image pretraining of SeqFormer R50 (T=1: every COCO image is a 1-frame video).
#
# The official repository publishes the COCO-pretrained weights (the "Pretrain" column of its model
# zoo) but not the recipe that produced them. Assumed here:
#   * the Deformable-DETR COCO recipe: 50 epochs, lr x0.1 after epoch 40, AdamW lr 2e-4 for 16 images
#     (8 GPUs x 2), weight decay 1e-4, grad-norm clip 0.1, lr x0.1 for backbone / sampling offsets /
#     reference points, Deformable-DETR multi-scale augmentation (see _base_/datasets/coco_instance_video.py);
#   * the full SeqFormer model (box refinement, dynamic mask head) with 80 COCO classes, trained with
#     the same losses as on video; clip-level terms reduce to per-image ones for T=1;
#   * plain COCO instances json (no CocoVID conversion) at data/coco/annotations/instances_train2017.json.
# Fine-tuning on YouTube-VIS re-initialises the class branches, as the official code does.
_base_ = [
    '../_base_/models/seqformer_r50.py', '../_base_/datasets/coco_instance_video.py',
    '../_base_/schedules/seqformer_12e.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='torchvision://resnet50')),
    track_head=dict(num_classes=80))
max_epochs = 50
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
# no evaluation loops: see the dataset base
val_cfg = None
test_cfg = None
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=16)
