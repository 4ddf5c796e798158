"""Deformable-VisTR: its config, frame-major outputs and memory, the encoder's init, the video interface, and (slow)
a few toy training iterations that lower the loss."""
import os.path as osp

import numpy as np
import pytest
import torch

from ..conftest import REPO

CONFIG = osp.join(REPO, 'configs', 'vistr', 'deformable-vistr_r50_8xb1-60e_youtubevis2019.py')
DIMS, T, P, CLASSES = 192, 3, 4, 6


def _scope():
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401
    init_default_scope('mmdet')


def tiny_model_cfg(num_frames: int = T) -> dict:
    """The R50 config's model at toy size (stated): ResNet-18, width 192, 1 encoder + 2 decoder layers, no dropout."""
    from mmengine.config import Config

    model = Config.fromfile(CONFIG).model.to_dict()
    attn = dict(embed_dims=DIMS, num_heads=8, attn_drop=0.0, dropout_layer=None, batch_first=True)
    ffn = dict(embed_dims=DIMS, feedforward_channels=256, num_fcs=2, ffn_drop=0.0)
    model.update(
        num_frames=num_frames, queries_per_frame=P, embed_dims=DIMS,
        backbone=dict(model['backbone'], depth=18),
        neck=dict(model['neck'], in_channels=[128, 256, 512], out_channels=DIMS),
        positional_encoding=dict(type='VisTRSinePositionalEncoding3D', num_feats=DIMS // 3, normalize=True),
        encoder=dict(model['encoder'], num_layers=1, positional_encoding=dict(num_feats=DIMS // 2, normalize=True,
                                                                              offset=-0.5),
                     layer_cfg=dict(self_attn_cfg=dict(embed_dims=DIMS, num_heads=8, num_levels=4, num_points=2,
                                                       dropout=0.0, batch_first=True),
                                    ffn_cfg=dict(embed_dims=DIMS, feedforward_channels=256, ffn_drop=0.0))),
        decoder=dict(model['decoder'], num_layers=2, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn,
                                                                    ffn_cfg=ffn)),
        mask_head=dict(model['mask_head'], deform_conv='pytorch'),
        track_head=dict(model['track_head'], num_classes=CLASSES, embed_dims=DIMS),
        test_cfg=dict(model['test_cfg'], max_per_video=5))
    return model


def build_tiny(seed: int = 0, **overrides):
    from mmdet.registry import MODELS

    _scope()
    torch.manual_seed(seed)
    model = MODELS.build(dict(tiny_model_cfg(), **overrides))
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def model():
    return build_tiny().eval()


def test_config_builds_with_the_defvis_defaults():
    from mmdet.registry import MODELS
    from mmengine.config import Config

    _scope()
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'DeformableVisTR' and type(model.encoder).__name__ == 'MultiScaleDeformableEncoder'
    assert (model.num_frames, model.queries_per_frame, model.embed_dims, model.num_classes) == (36, 10, 384, 40)
    assert model.query_embedding.num_embeddings == 360 and model.track_head.fc_cls.out_features == 42
    assert model.encoder.num_levels == 4 and model.encoder.num_layers == 6 and model.mask_memory_level == 2
    attn = model.encoder.layers[0].self_attn
    assert (attn.embed_dims, attn.num_heads, attn.num_levels, attn.num_points) == (384, 8, 4, 4)
    assert model.encoder.layers[0].ffn.feedforward_channels == 2048
    assert [conv.conv.in_channels for conv in model.neck.convs] == [512, 1024, 2048]
    assert model.neck.extra_convs[0].conv.in_channels == 2048 and not hasattr(model, 'input_proj')
    assert type(model.backbone).__name__ == 'ResNet' and model.backbone.depth == 50
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-4, weight_decay=1e-4)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {'backbone': dict(lr_mult=0.1)}
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=0.1, norm_type=2)
    assert cfg.train_cfg.max_epochs == 60
    assert [(s.type, s.milestones, s.gamma, s.end) for s in cfg.param_scheduler] == [('MultiStepLR', [40], 0.1, 60)]
    assert cfg.train_pipeline[0]['num_frames'] == cfg.model.num_frames == 36


def test_forward_gives_frame_major_outputs_in_the_official_layouts(model):
    h, w = 70, 100
    with torch.no_grad():
        out = model(torch.randn(1, T, 3, h, w), None, mode='tensor', with_intermediates=True)
    q = T * P
    assert out['pred_logits'].shape == (1, q, CLASSES + 2)
    assert out['pred_boxes'].shape == (1, q, 4) and 0 <= out['pred_boxes'].min() and out['pred_boxes'].max() <= 1
    assert out['pred_masks'].shape == (1, q, -(-h // 4), -(-w // 4))
    assert len(out['aux_outputs']) == 1 and out['aux_outputs'][0]['pred_logits'].shape == (1, q, CLASSES + 2)
    inter = out['intermediates']
    # the mask head's frame t reads the queries t*P .. t*P+P-1 and frame t's stride-32 memory
    assert inter['frame_mask_features'].shape[:3] == (1, T, P)
    assert inter['bbox_attention'].shape[:3] == (1, T, P) and inter['bbox_attention'].shape[-2:] == (3, 4)
    assert inter['hs'].shape == (2, 1, q, DIMS)


def test_memory_is_frame_major_over_all_levels(model):
    frames = torch.randn(T, 3, 64, 96)
    with torch.no_grad():
        enc = model.encode(frames)
        dec = model.decode(enc, T, with_masks=False)
        alone = model.encode(frames[1:2])
    shapes = enc['level_shapes'][0].tolist()
    assert shapes == [[8, 12], [4, 6], [2, 3], [1, 2]]  # strides 8, 16, 32, 64
    s = sum(h * w for h, w in shapes)
    memory = dec['memory'].view(T, s, DIMS)
    assert torch.equal(memory, enc['memory'])
    # frames are encoded independently: frame 1 alone gives its part of the clip memory
    assert torch.allclose(alone['memory'][0], memory[1], atol=1e-5)
    # the stride-32 level is what the mask head reads
    level2 = memory[:, 8 * 12 + 4 * 6:8 * 12 + 4 * 6 + 6].transpose(1, 2).reshape(T, DIMS, 2, 3)
    assert torch.equal(enc['src'], level2)
    # key positions: the z code (first third) tells frames apart, the (y, x) codes are the same in every frame
    pos = dec['pos'].view(T, s, DIMS)
    z, yx = DIMS // 3, slice(DIMS // 3, DIMS)
    assert not torch.allclose(pos[0, :, :z], pos[1, :, :z], atol=1e-3)
    assert torch.allclose(pos[0, :, yx], pos[2, :, yx], atol=1e-5)


def test_padding_masks_reach_the_decoder_and_the_mask_head(model):
    from mmdet.structures import DetDataSample, TrackDataSample

    sample = TrackDataSample()
    sample.video_data_samples = [DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
                                 for _ in range(T)]
    with torch.no_grad():
        out = model(torch.randn(1, T, 3, 64, 96), [sample], mode='tensor', with_intermediates=True)
    inter = out['intermediates']
    # 64 of 96 columns are image: at stride 32, 2 of 3 cells
    assert inter['mask_c5'].shape == (T, 2, 3)
    assert inter['mask_c5'][:, :, 2:].all() and not inter['mask_c5'][:, :, :2].any()
    key_mask = inter['key_padding_mask']
    assert key_mask.shape == (1, T * 128) and torch.equal(key_mask.view(T, 128), inter['memory_mask'])
    level0 = key_mask.view(T, 128)[:, :96].view(T, 8, 12)  # stride 8: 8 of 12 columns are image
    assert level0[..., 8:].all() and not level0[..., :8].any()
    # padded cells get no attention in the mask head
    assert inter['bbox_attention'][..., 2:].abs().max() == 0


def test_init_keeps_the_deformable_detr_init_of_the_encoder(model):
    """VisTR's init puts xavier on every transformer matrix; the deformable encoder's sampling offsets and attention
    weights must keep Deformable DETR's zero weights (offsets start on a grid around the reference point)."""
    attn = model.encoder.layers[0].self_attn
    assert attn.sampling_offsets.weight.abs().max() == 0 and attn.attention_weights.weight.abs().max() == 0
    assert attn.sampling_offsets.bias.abs().max() > 1  # the grid
    assert 0.5 < model.encoder.level_embed.std() < 1.5  # normal(0, 1)


def test_video_interface_tiles_short_videos_and_windows_long_ones(model):
    for length in (2, 5):
        frames = [torch.randn(3, 64, 96, generator=torch.Generator().manual_seed(i)) for i in range(length)]
        with torch.no_grad():
            results = list(model.predict_video(iter(frames), dict(img_shape=(64, 96), ori_shape=(32, 48)),
                                               chunk_size=2))
        assert [i for i, _ in results] == list(range(length))
        for _, inst in results:
            assert inst.masks.shape[1:] == (32, 48) and len(inst) <= 5


@pytest.mark.slow
def test_toy_training_iterations_lower_the_loss(toy_vis_small):
    """A small Deformable-VisTR (ResNet-18 from scratch, width 192, T=3) trained on two toy clips through the VisTR
    toy training pipeline and the config's optimiser settings (AdamW, backbone x0.1, grad clip 0.1)."""
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    _scope()
    data_cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'toy_vis_vistr.py'))
    dataset_cfg = data_cfg.train_dataloader.dataset
    dataset_cfg.data_root = toy_vis_small
    dataset_cfg.pipeline[0]['num_frames'] = T
    np.random.seed(0)
    dataset = DATASETS.build(dataset_cfg)
    model = build_tiny().train()
    batches = []
    for index in ((0, 2), (1, 4)):
        item = dataset[index]
        batches.append(model.data_preprocessor(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]),
                                               training=True))
    assert batches[0]['inputs'].shape[:3] == (1, T, 3)
    optim_cfg = Config.fromfile(CONFIG).optim_wrapper
    optim_cfg.optimizer.lr = 4e-4
    optim = build_optim_wrapper(model, optim_cfg)
    history = []
    for step in range(24):
        losses = model.loss(**batches[step % 2])
        loss = sum(losses.values())
        optim.update_params(loss)
        history.append(loss.item())
    assert all(np.isfinite(history))
    first, last = np.mean(history[:4]), np.mean(history[-4:])
    assert last < 0.7 * first, history


def test_query_groups_decode_each_group_on_the_multi_scale_memory():
    """Deformable-VisTR decodes query groups as VisTR does (shared ``decode_queries``): group g of a 2-group decoding
    equals decoding with group g's queries alone, masks included."""
    grouped_model = build_tiny(num_query_groups=2).eval()
    inputs = torch.randn(1, T, 3, 64, 96)
    with torch.no_grad():
        enc = grouped_model.encode(inputs.flatten(0, 1))
        grouped = grouped_model.decode(enc, T, groups=2)
        assert grouped['logits'].shape[1] == 2 and grouped['masks'].shape[0] == 2
        weight = grouped_model.query_embedding.weight.data.clone()
        q = T * P
        grouped_model.query_embedding.weight.data[:q] = weight[q:]
        second = grouped_model.decode(enc, T)
    for key in ('logits', 'boxes'):
        torch.testing.assert_close(grouped[key][:, 1:], second[key], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grouped['masks'][1:], second['masks'], rtol=1e-4, atol=1e-4)
