# SeqFormer R101 (official configs/r101_seqformer.sh): same model and schedule as R50, 8 GPUs x 2 clips.
_base_ = './seqformer_r50_8xb2-12e_youtubevis2019.py'
model = dict(backbone=dict(depth=101))
