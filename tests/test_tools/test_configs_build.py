"""Every config under configs/seqformer and configs/vistr (vistr_*) builds on CPU; the SeqFormer R50 config runs a
tensor-mode forward and the VisTR R50 training pipeline packs a toy clip."""
import glob
import os.path as osp

import pytest
import torch
from tool_helpers import CONFIG_DIR, R50_CONFIG, REPO, build_model

CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
# model-zoo configs: backbone type, depth (ResNets), classes and neck inputs each is meant to have
EXPECTED = {
    'seqformer_r50_8xb2-12e_youtubevis2019.py': ('ResNet', 50, 40, [512, 1024, 2048]),
    'seqformer_r101_8xb2-12e_youtubevis2019.py': ('ResNet', 101, 40, [512, 1024, 2048]),
    'seqformer_x101-32x8d_8xb1-12e_youtubevis2019.py': ('ResNeXt', 101, 40, [512, 1024, 2048]),
    'seqformer_swin-l-p4-w12_8xb1-12e_youtubevis2019.py': ('SwinTransformer', None, 40, [384, 768, 1536]),
    'seqformer_r50_8xb2-50e_coco-pretrain.py': ('ResNet', 50, 80, [512, 1024, 2048]),
}


def test_model_zoo_configs_exist():
    assert set(EXPECTED) <= {osp.basename(c) for c in CONFIGS}


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds(config):
    model = build_model(config)
    assert type(model).__name__ == 'SeqFormer'
    assert model.track_head.cls_branches[0].out_features == model.num_classes
    if osp.basename(config) not in EXPECTED:  # e.g. the toy configs: building is all we know
        return
    backbone_type, depth, num_classes, neck_in = EXPECTED[osp.basename(config)]
    assert type(model.backbone).__name__ == backbone_type
    if depth is not None:
        assert model.backbone.depth == depth
    assert model.num_classes == num_classes
    assert model.track_head.cls_branches[0].out_features == num_classes
    assert [conv.conv.in_channels for conv in model.neck.convs] == neck_in
    # the stride-64 level is a stride-2 conv on the last backbone output
    assert model.neck.extra_convs[0].conv.in_channels == neck_in[-1]
    if osp.basename(config) in EXTRA_CHECKS:
        EXTRA_CHECKS[osp.basename(config)](model)


def _check_resnext(model):
    block = model.backbone.layer1[0]
    # torchvision resnext101_32x8d: layer1 bottleneck width 256 in 32 groups, layer3 has 23 blocks
    assert block.conv2.groups == 32 and block.conv2.in_channels == 256
    assert len(model.backbone.layer3) == 23


def _check_swin(model):
    swin = model.backbone
    assert [len(stage.blocks) for stage in swin.stages] == [2, 2, 18, 2]
    assert [stage.blocks[0].attn.w_msa.num_heads for stage in swin.stages] == [6, 12, 24, 48]
    assert swin.stages[0].blocks[0].attn.w_msa.window_size == (12, 12)
    assert swin.out_indices == (1, 2, 3)
    assert swin.num_features[1:] == [384, 768, 1536]
    # stochastic depth grows linearly to drop_path_rate on the last block
    assert swin.stages[-1].blocks[-1].ffn.dropout_layer.drop_prob == pytest.approx(0.3)


EXTRA_CHECKS = {
    'seqformer_x101-32x8d_8xb1-12e_youtubevis2019.py': _check_resnext,
    'seqformer_swin-l-p4-w12_8xb1-12e_youtubevis2019.py': _check_swin,
}


def test_r50_tensor_forward_shapes():
    torch.manual_seed(0)
    model = build_model(R50_CONFIG)
    model.init_weights()
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 2, 3, 64, 96), None, mode='tensor')
    assert out['pred_logits'].shape == (1, 300, 40)
    assert out['pred_boxes'].shape == (1, 300, 2, 4)
    assert out['pred_masks'].shape == (1, 300, 2, 16, 24)
    assert len(out['aux_outputs']) == 5
    assert all(torch.isfinite(out[k]).all() for k in ('pred_logits', 'pred_boxes', 'pred_masks'))
    assert 0 <= out['pred_boxes'].min() and out['pred_boxes'].max() <= 1


def test_schedule_and_data_settings():
    from mmengine.config import Config

    x101 = Config.fromfile(osp.join(CONFIG_DIR, 'seqformer_x101-32x8d_8xb1-12e_youtubevis2019.py'))
    assert x101.train_dataloader.batch_size == 1
    assert x101.auto_scale_lr.base_batch_size == 8
    assert x101.optim_wrapper.optimizer.lr == 2e-4
    r101 = Config.fromfile(osp.join(CONFIG_DIR, 'seqformer_r101_8xb2-12e_youtubevis2019.py'))
    assert r101.train_dataloader.batch_size == 2 and r101.auto_scale_lr.base_batch_size == 16
    coco = Config.fromfile(osp.join(CONFIG_DIR, 'seqformer_r50_8xb2-50e_coco-pretrain.py'))
    assert coco.train_cfg.max_epochs == 50
    assert coco.param_scheduler[0].milestones == [40]
    dataset = coco.train_dataloader.dataset
    assert dataset.ann_file == 'annotations/instances_train2017.json' and dataset.data_root == 'data/coco/'
    assert len(dataset.metainfo.classes) == 80
    assert coco.train_dataloader.dataset.pipeline[0].type == 'BaseFrameSample'  # T=1
    assert coco.val_dataloader is None and coco.val_cfg is None


def test_metafile_lists_every_config():
    import yaml

    with open(osp.join(CONFIG_DIR, 'metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    assert sorted(m['Name'] + '.py' for m in models) == sorted(EXPECTED)  # the toy configs are no zoo models
    by_name = {m['Name']: m for m in models}
    for m in models:
        assert m['Config'] == f'configs/seqformer/{m["Name"]}.py'
    r50 = by_name['seqformer_r50_8xb2-12e_youtubevis2019']
    assert r50['Metadata']['Parameters'] == 48_059_457
    assert r50['Results'][0]['Metrics']['AP'] == 47.4
    published = {'r101': 49.0, 'x101-32x8d': 51.2, 'swin-l-p4-w12': 59.3}
    for key, ap in published.items():
        assert by_name[f'seqformer_{key}_8xb{1 if key != "r101" else 2}-12e_youtubevis2019'][
            'Results'][0]['Metrics']['AP'] == ap


def test_coco_pretrain_pipeline_makes_one_frame_clips(tmp_path):
    """Plain COCO json -> 1-frame videos through the config's training pipeline (labels = COCO order)."""
    import json
    import random

    import cv2
    import numpy as np
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401

    coco = Config.fromfile(osp.join(CONFIG_DIR, 'seqformer_r50_8xb2-50e_coco-pretrain.py'))
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'train2017').mkdir()
    images, anns = [], []
    for i in (1, 2):
        cv2.imwrite(str(tmp_path / 'train2017' / f'{i:012d}.jpg'), np.full((200, 300, 3), 40 * i, np.uint8))
        images.append(dict(id=i, file_name=f'{i:012d}.jpg', height=200, width=300))
        # large enough that every crop of the pipeline (>= 384 px of a >= 400 px resize) keeps a part of it
        x = 10 * i
        anns.append(dict(id=i, image_id=i, category_id=18, bbox=[x, 20, 260, 160], area=41600., iscrowd=0,
                         segmentation=[[x, 20, x + 260, 20, x + 260, 180, x, 180]]))
    names = coco.train_dataloader.dataset.metainfo.classes
    categories = [dict(id=cid, name=name) for cid, name in zip(
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18] + list(range(19, 82)), names)]
    with open(tmp_path / 'annotations' / 'instances_train2017.json', 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=categories), f)
    coco.train_dataloader.dataset.data_root = str(tmp_path)
    init_default_scope('mmdet')
    random.seed(0)
    np.random.seed(0)
    dataset = DATASETS.build(coco.train_dataloader.dataset)
    assert len(dataset) == 2
    for idx in range(2):
        item = dataset[idx]
        assert item['inputs'].shape[:2] == (1, 3)  # (T=1, C, H, W)
        gt = item['data_samples'][0].gt_instances
        assert gt.labels.tolist() == [16]  # 'dog' (COCO id 18) is the 17th COCO class
        assert gt.masks.masks.shape[0] == 1 and gt.masks.masks.sum() > 0


def test_config_with_the_old_preprocessor_name_loads_the_shipped_checkpoint():
    """Configs (also those stored in older checkpoints) may still name SeqFormerDataPreprocessor."""
    from mmseqformer.apis import init_model
    from mmseqformer.apis.checkpoint import checkpoint_state, read_checkpoint

    config = osp.join(CONFIG_DIR, 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
    checkpoint = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
    with pytest.warns(DeprecationWarning, match="use 'VideoDataPreprocessor'"):
        old = init_model(config, checkpoint, cfg_options={'model.data_preprocessor.type': 'SeqFormerDataPreprocessor'})
    new = init_model(config, checkpoint)
    assert type(old.data_preprocessor).__name__ == 'SeqFormerDataPreprocessor'
    assert type(new.data_preprocessor).__name__ == 'VideoDataPreprocessor'
    shipped = checkpoint_state(read_checkpoint(checkpoint), checkpoint)
    for name, value in old.state_dict().items():
        assert torch.equal(value, shipped[name].to(value.dtype)), name
    video = torch.randint(0, 256, (2, 3, 36, 50), dtype=torch.uint8)
    inputs = [m.data_preprocessor(dict(inputs=[video], data_samples=None))['inputs'] for m in (old, new)]
    assert inputs[0].shape == (1, 2, 3, 36, 50) and torch.equal(*inputs)


# ---- VisTR (configs/vistr/vistr_*.py; Deformable-VisTR configs have their own tests) ----
VISTR_CONFIG_DIR = osp.join(REPO, 'configs', 'vistr')
VISTR_CONFIGS = sorted(glob.glob(osp.join(VISTR_CONFIG_DIR, 'vistr_*.py')))
# model-zoo configs: backbone depth and dataset version each is meant to have
VISTR_EXPECTED = {
    'vistr_r50_8xb1-18e_youtubevis2019.py': (50, '2019'),
    'vistr_r101_8xb1-18e_youtubevis2019.py': (101, '2019'),
    'vistr_r50_8xb1-18e_youtubevis2021.py': (50, '2021'),
}


def test_vistr_model_zoo_configs_exist():
    assert set(VISTR_EXPECTED) <= {osp.basename(c) for c in VISTR_CONFIGS}


@pytest.mark.parametrize('config', VISTR_CONFIGS, ids=osp.basename)
def test_vistr_config_builds(config):
    model = build_model(config)
    assert type(model).__name__ == 'VisTR'
    # official label columns: absent frame, the classes, no-object
    assert model.track_head.fc_cls.out_features == model.num_classes + 2
    assert model.query_embedding.num_embeddings == model.num_frames * model.queries_per_frame
    if osp.basename(config) not in VISTR_EXPECTED:  # e.g. a toy config: building is all we know
        return
    depth, _ = VISTR_EXPECTED[osp.basename(config)]
    assert type(model.backbone).__name__ == 'ResNet' and model.backbone.depth == depth
    assert model.backbone.frozen_stages == 1 and model.backbone.norm_eval
    assert (model.num_classes, model.num_frames, model.queries_per_frame, model.embed_dims) == (40, 36, 10, 384)
    assert model.input_proj.in_channels == 2048


@pytest.mark.parametrize('name', sorted(VISTR_EXPECTED))
def test_vistr_schedule_and_data_settings(name):
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(VISTR_CONFIG_DIR, name))
    optim = cfg.optim_wrapper
    assert optim.optimizer == dict(type='AdamW', lr=1e-4, weight_decay=1e-4)
    assert optim.paramwise_cfg.custom_keys == {'backbone': dict(lr_mult=0.1)}
    assert optim.clip_grad == dict(max_norm=0.1, norm_type=2)
    assert cfg.train_cfg.max_epochs == 18 and cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert [(s.type, s.milestones, s.gamma, s.end) for s in cfg.param_scheduler] == [('MultiStepLR', [12], 0.1, 18)]
    assert cfg.train_dataloader.batch_size == 1 and cfg.auto_scale_lr.base_batch_size == 8
    assert cfg.randomness.seed == 42
    # the official init is a local converted DETR-384 checkpoint: nothing is downloaded
    assert cfg.load_from.startswith('checkpoints/') and 'detr384' in cfg.load_from
    assert f'r{VISTR_EXPECTED[name][0]}_' in osp.basename(cfg.load_from)
    assert cfg.model.backbone.init_cfg is None
    version = VISTR_EXPECTED[name][1]
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.dataset_version == version
        assert loader.dataset.ann_file.startswith(f'annotations/youtube_vis_{version}_')
    assert cfg.train_dataloader.sampler.type == 'TrackImgSampler'
    assert cfg.train_pipeline[0] == dict(type='ClipEndingAtFrameSample', num_frames=36, cyclic=True)
    assert cfg.train_pipeline[0]['num_frames'] == cfg.model.num_frames
    resize = [s for s in cfg.test_pipeline[0]['transforms'] if s['type'] == 'Resize']
    assert resize == [dict(type='Resize', scale=(100000, 300), keep_ratio=True)]


def test_vistr_train_pipeline_packs_a_toy_sample(toy_vis_small):
    """The R50 config's training pipeline on toy_vis: one (video, frame) index gives a packed 36-frame clip
    ending at that frame at short side 300, which the model's data preprocessor normalises."""
    import numpy as np
    from mmdet.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401

    cfg = Config.fromfile(osp.join(VISTR_CONFIG_DIR, 'vistr_r50_8xb1-18e_youtubevis2019.py'))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(type='ToyVISDataset', data_root=toy_vis_small, ann_file='annotations/toy_vis_train.json',
                       data_prefix=dict(img_path='train/JPEGImages'))
    init_default_scope('mmdet')
    np.random.seed(0)
    dataset = DATASETS.build(dataset_cfg)
    length = dataset.get_len_per_video(1)
    item = dataset[(1, 2)]
    samples = item['data_samples']
    assert item['inputs'].shape[:2] == (36, 3) and len(samples) == 36
    assert min(item['inputs'].shape[2:]) == 300 and max(item['inputs'].shape[2:]) <= 540
    assert [samples[i].frame_id for i in range(36)] == [(2 - 35 + j) % length for j in range(36)]
    assert all(len(samples[i].gt_instances) > 0 for i in range(36))
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    out = preprocessor(dict(inputs=[item['inputs']], data_samples=[samples]), training=True)
    mean, std = torch.tensor([123.675, 116.28, 103.53]), torch.tensor([58.395, 57.12, 57.375])
    expected = (item['inputs'][:, [2, 1, 0]].float() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert out['inputs'].shape == (1, *item['inputs'].shape)
    torch.testing.assert_close(out['inputs'][0], expected)


def test_vistr_metafile_lists_every_zoo_config_with_its_parameter_count():
    """Every VisTR config but the toy one is a zoo entry; its parameter count is the built model's."""
    import glob

    import yaml

    vistr_dir = osp.join(osp.dirname(CONFIG_DIR), 'vistr')
    with open(osp.join(vistr_dir, 'metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    configs = sorted(osp.basename(p) for p in glob.glob(osp.join(vistr_dir, '*.py')) if '-toy_' not in p)
    assert sorted(m['Name'] + '.py' for m in models) == configs
    by_name = {m['Name']: m for m in models}
    assert by_name['vistr_r50_8xb1-18e_youtubevis2019']['Results'][0]['Metrics']['AP'] == 36.2
    assert by_name['vistr_r101_8xb1-18e_youtubevis2019']['Results'][0]['Metrics']['AP'] == 40.1
    for m in models:
        assert m['Config'] == f'configs/vistr/{m["Name"]}.py'
        model = build_model(osp.join(vistr_dir, m['Name'] + '.py'))
        assert m['Metadata']['Parameters'] == sum(p.numel() for p in model.parameters())
