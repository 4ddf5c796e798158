# SeqFormer Swin-L (official configs/swin_seqformer.sh, backbone swin_l_p4w12): Swin-L with 4x4
# patches and 12x12 windows at 384 pretraining resolution; stages 1..3 (strides 8/16/32) feed the neck.
# Official: 1 clip per GPU, lr 2e-4; its README launches the run on 2 nodes x 8 GPUs (16 clips).
# This config trains on 8 GPUs x 1 clip; auto_scale_lr records the official batch of 16.
_base_ = './seqformer_r50_8xb2-12e_youtubevis2019.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        pretrain_img_size=384,
        embed_dims=192,
        patch_size=4,
        window_size=12,
        mlp_ratio=4,
        depths=[2, 2, 18, 2],
        num_heads=[6, 12, 24, 48],
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.3,
        patch_norm=True,
        use_abs_pos_embed=False,
        out_indices=(1, 2, 3),
        with_cp=False,
        # Only used with an ImageNet Swin checkpoint in init_cfg (original Swin key layout);
        # fine-tuning starts from the COCO-pretrained SeqFormer weights, see README.md.
        convert_weights=True,
        init_cfg=None),
    neck=dict(in_channels=[384, 768, 1536]))
train_dataloader = dict(batch_size=1, num_workers=1)
auto_scale_lr = dict(base_batch_size=16)
