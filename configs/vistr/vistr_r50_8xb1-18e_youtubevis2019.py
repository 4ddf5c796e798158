# VisTR R50 on YouTube-VIS 2019 with the official recipe: 36-frame clips ending at every annotated frame
# (cyclic), per-frame photometric distortion, clip-shared flip/resize/crop, final short side 300 (long <= 540);
# AdamW 1e-4 (backbone 1e-5), weight decay 1e-4, 18 epochs, x0.1 after 12, grad clip 0.1, 8 GPUs x 1 clip.
_base_ = [
    '../_base_/models/vistr_r50.py', '../_base_/datasets/youtube_vis_2019_vistr.py',
    '../_base_/schedules/vistr_18e.py', '../_base_/default_runtime.py'
]
model = dict(track_head=dict(num_classes=40))
# Official init: the author's DETR (hidden 384, COCO instance segmentation, VisTR#58), converted once with
#   python tools/model_converters/vistr_to_mmseqformer.py <author's R50 DETR-384 .pth> \
#       checkpoints/vistr_r50_detr384-coco.pth --source detr
# (see configs/vistr/README.md). It is loaded with strict=False: the class and query embeddings and the mask
# head's DCN / 3D parts keep their fresh initialisation, as the official main.py does. Nothing is downloaded;
# train from scratch with --cfg-options load_from=None.
load_from = 'checkpoints/vistr_r50_detr384-coco.pth'
