# VisTR R101: the R50 model, recipe and schedule with a ResNet-101. The official R101 run resized the final
# training frames to short side 280 (long <= 504), a line commented out in the official code; we keep 300/540.
_base_ = './vistr_r50_8xb1-18e_youtubevis2019.py'
model = dict(backbone=dict(depth=101))
# the author's R101 DETR-384 COCO weights, converted as in the R50 config (vistr_to_mmseqformer.py --source detr)
load_from = 'checkpoints/vistr_r101_detr384-coco.pth'
