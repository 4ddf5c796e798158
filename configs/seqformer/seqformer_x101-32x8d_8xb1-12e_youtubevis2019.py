# SeqFormer ResNeXt-101 32x8d (official configs/x101_seqformer.sh: torchvision resnext101_32x8d,
# 1 clip per GPU x 8 GPUs, lr 2e-4). mmdet's ResNeXt with groups 32 and base_width 8 has the same
# bottleneck widths and layer names as the torchvision model.
_base_ = './seqformer_r50_8xb2-12e_youtubevis2019.py'
model = dict(backbone=dict(type='ResNeXt', depth=101, groups=32, base_width=8))
train_dataloader = dict(batch_size=1, num_workers=1)
auto_scale_lr = dict(base_batch_size=8)
