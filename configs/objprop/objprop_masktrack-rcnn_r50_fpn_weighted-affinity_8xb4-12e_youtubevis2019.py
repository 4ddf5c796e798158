# ObjProp with the follow-up study's weighted inter-frame affinity: S = softmax over the reference cells of
# ref^T W cur, W one learnable 256 x 256 matrix shared over the batch and initialised to the identity (so training
# starts from ObjProp's affinity, and it runs at any batch size, unlike the original's batch-sized variant).
_base_ = './objprop_masktrack-rcnn_r50_fpn_8xb4-12e_youtubevis2019.py'
model = dict(prop_head=dict(affinity='weighted'))
