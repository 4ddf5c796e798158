"""tools/model_converters/vistr_to_mmseqformer.py on the official-format VisTR parity weights and a DETR-384 init."""
import argparse
import os.path as osp
from collections import OrderedDict

import pytest
import torch
from tool_helpers import REPO, load_module, run_tool, stderr_lines

from tests.tool_runner import run_in_process

TOOL = 'model_converters/vistr_to_mmseqformer.py'
VISTR_BASE = osp.join(REPO, 'configs', '_base_', 'models', 'vistr_r50.py')
# our keys a DETR-384 init leaves to their own init (class head, queries, conv_offset, DCN, 3D instance head)
DETR_MISSING = {'query_embedding.weight', 'track_head.fc_cls.weight', 'track_head.fc_cls.bias',
                'mask_head.conv_offset.weight', 'mask_head.conv_offset.bias', 'mask_head.dcn.weight',
                *(f'mask_head.insmask_head.{i}.{p}' for i in (0, 1, 3, 4, 6, 7) for p in ('weight', 'bias')),
                'mask_head.insmask_head.9.weight', 'mask_head.insmask_head.9.bias'}


@pytest.fixture(scope='module')
def tool():
    return load_module(osp.join(REPO, 'tools', TOOL))


@pytest.fixture(scope='module')
def official_ckpt(official_vistr_state_dict, tmp_path_factory):
    """The parity weights saved as the official training script does: {'model': sd, 'args': Namespace, ...}."""
    path = tmp_path_factory.mktemp('official') / 'vistr_r50_official.pth'
    torch.save(dict(model=official_vistr_state_dict, epoch=17, args=argparse.Namespace(num_frames=3)), path)
    return str(path)


def detr_init(official: dict, prefix: str = 'detr.') -> 'OrderedDict[str, torch.Tensor]':
    """A DETR-384 segmentation state dict in the author's layout, made from the VisTR parity weights."""
    g = torch.Generator().manual_seed(0)
    out = OrderedDict()
    for key, value in official.items():
        if key.startswith(('mask_head.conv_offset.', 'mask_head.dcn.', 'insmask_head.')):
            continue
        if key.startswith('vistr.'):
            key = prefix + key[len('vistr.'):]
        out[key] = value
    out[prefix + 'class_embed.weight'] = torch.randn(92, 384, generator=g)  # COCO: 91 ids + no-object
    out[prefix + 'class_embed.bias'] = torch.randn(92, generator=g)
    out[prefix + 'query_embed.weight'] = torch.randn(100, 384, generator=g)
    out['mask_head.lay5.weight'] = torch.randn(24, 48, 3, 3, generator=g)
    out['mask_head.lay5.bias'] = torch.randn(24, generator=g)
    out['mask_head.out_lay.weight'] = torch.randn(1, 24, 3, 3, generator=g)
    out['mask_head.out_lay.bias'] = torch.randn(1, generator=g)
    return out


def assert_rejected(proc, *words):
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def build_vistr(**overrides):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401

    cfg = Config.fromfile(VISTR_BASE)
    init_default_scope('mmdet')
    cfg.merge_from_dict(dict(model=overrides))
    return MODELS.build(cfg.model)


def test_official_r50_loads_strictly(official_ckpt, official_vistr_state_dict, tmp_path):
    dst = tmp_path / 'vistr_r50.pth'
    proc = run_tool(TOOL, official_ckpt, str(dst), '--num-frames', '3')
    assert proc.returncode == 0, proc.stderr
    # 503 official keys, 53 num_batches_tracked added for mmdet's BatchNorm
    assert 'kept 503 keys, dropped 0, added 53' in proc.stdout and str(dst) in proc.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['source_kind'] == 'vistr' and meta['missing_keys'] == [] and meta['depth'] == 50
    assert (meta['num_frames'], meta['queries_per_frame'], meta['num_classes']) == (3, 10, 40)
    model = build_vistr(num_frames=3)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    official = official_vistr_state_dict
    assert torch.equal(model.track_head.fc_cls.weight, official['vistr.class_embed.weight'])  # all 42 columns
    assert torch.equal(model.track_head.fc_reg.layers[2].bias, official['vistr.bbox_embed.layers.2.bias'])
    assert torch.equal(model.query_embedding.weight, official['vistr.query_embed.weight'])
    assert torch.equal(model.encoder.layers[4].self_attn.attn.in_proj_weight,
                       official['vistr.transformer.encoder.layers.4.self_attn.in_proj_weight'])
    assert torch.equal(model.decoder.layers[2].cross_attn.attn.out_proj.bias,
                       official['vistr.transformer.decoder.layers.2.multihead_attn.out_proj.bias'])
    assert torch.equal(model.decoder.layers[5].norms[2].weight,
                       official['vistr.transformer.decoder.layers.5.norm3.weight'])
    assert torch.equal(model.decoder.post_norm.bias, official['vistr.transformer.decoder.norm.bias'])
    assert torch.equal(model.encoder.layers[0].ffn.layers[1].weight,
                       official['vistr.transformer.encoder.layers.0.linear2.weight'])
    assert torch.equal(model.backbone.layer2[3].bn3.running_mean,
                       official['vistr.backbone.0.body.layer2.3.bn3.running_mean'])
    assert torch.equal(model.mask_head.bbox_attention.k_linear.weight, official['bbox_attention.k_linear.weight'])
    assert torch.equal(model.mask_head.dcn.weight, official['mask_head.dcn.weight'])
    assert torch.equal(model.mask_head.insmask_head[9].bias, official['insmask_head.9.bias'])
    assert not list(tmp_path.glob('.*.tmp'))  # the temporary file was renamed


@pytest.mark.parametrize('prefix', ['detr.', 'vistr.'])  # vistr.: after the official detr_weights_to_vistr.py
def test_detr_init_leaves_the_documented_keys_missing(tool, official_vistr_state_dict, prefix):
    detr = detr_init(official_vistr_state_dict, prefix)
    converted, meta = tool.convert(detr)
    assert meta['source_kind'] == 'detr'
    assert set(meta['missing_keys']) == DETR_MISSING
    assert set(meta['dropped_keys']) == {prefix + 'class_embed.weight', prefix + 'class_embed.bias',
                                         prefix + 'query_embed.weight', 'mask_head.lay5.weight',
                                         'mask_head.lay5.bias', 'mask_head.out_lay.weight', 'mask_head.out_lay.bias'}
    assert torch.equal(converted['mask_head.gn5.weight'], detr['mask_head.gn5.weight'])  # DETR has gn5 (24)
    assert torch.equal(converted['input_proj.weight'], detr[prefix + 'input_proj.weight'])


def test_r101_layout_converts(tool, official_vistr_state_dict):
    """vistr_r101.pth differs from R50 only in backbone blocks (torchvision names, which mmdet's ResNet shares)."""
    backbone = build_vistr(backbone=dict(depth=101)).backbone
    official = {k: v for k, v in official_vistr_state_dict.items() if not k.startswith('vistr.backbone.')}
    official.update({f'vistr.backbone.0.body.{k}': torch.full_like(v, i % 7) for i, (k, v) in
                     enumerate(backbone.state_dict().items()) if not k.endswith('num_batches_tracked')})
    converted, meta = tool.convert(official, num_frames=3)
    assert meta['depth'] == 101 and meta['missing_keys'] == []
    assert torch.equal(converted['backbone.layer3.22.conv2.weight'],
                       official['vistr.backbone.0.body.layer3.22.conv2.weight'])


def test_wrong_checkpoints_exit_2(official_ckpt, official_vistr_state_dict, tmp_path):
    out = tmp_path / 'out.pth'
    # the query count of the parity weights (3 x 10) is not the default 36 x 10
    assert_rejected(run_in_process(TOOL, official_ckpt, str(out)), '30 queries', '10 x 36 = 360')
    official = official_vistr_state_dict

    def rejected(state_dict, *words, extra=()):
        src = tmp_path / 'src.pth'
        torch.save(dict(model=state_dict), src)
        assert_rejected(run_in_process(TOOL, str(src), str(out), '--num-frames', '3', *extra), *words)

    # a SeqFormer/Deformable-DETR checkpoint: detr.* keys VisTR does not have
    rejected(dict(detr_init(official), **{'detr.transformer.level_embed': torch.zeros(4, 384)}),
             'UnknownKeyError', 'detr.transformer.level_embed', 'another model')
    rejected({'backbone.conv1.weight': torch.zeros(1)}, 'neither an official VisTR')
    # public DETR (hidden 256): every key has a rule but the shapes do not fit
    narrow = detr_init(official)
    narrow['detr.input_proj.weight'] = torch.zeros(256, 2048, 1, 1)
    rejected(narrow, 'do not fit', 'input_proj.weight (256, 2048, 1, 1)')
    # a DETR without the segmentation heads leaves more than the documented keys missing
    rejected({k: v for k, v in detr_init(official).items() if not k.startswith('bbox_attention.')},
             'missing keys', 'mask_head.bbox_attention')
    # an official VisTR checkpoint missing a key is not strict
    rejected({k: v for k, v in official.items() if k != 'vistr.transformer.decoder.norm.bias'},
             'missing keys', 'decoder.post_norm.bias')
    rejected(official, 'cannot build', extra=('--config', str(tmp_path / 'src.pth')))
    assert not out.exists() and not list(tmp_path.glob('.*.tmp'))


def test_bad_files_and_arguments_exit_2(official_ckpt, tmp_path):
    out = tmp_path / 'out.pth'
    assert_rejected(run_in_process(TOOL, str(tmp_path / 'missing.pth'), str(out)), 'no such file')
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(open(official_ckpt, 'rb').read(4096))
    assert_rejected(run_in_process(TOOL, str(truncated), str(out)), 'cannot read')
    not_sd = tmp_path / 'not_sd.pth'
    torch.save(dict(epoch=3, lr=0.1), not_sd)
    assert_rejected(run_in_process(TOOL, str(not_sd), str(out)), 'state dict')
    assert_rejected(run_in_process(TOOL, official_ckpt, str(out), '--num-frames', '0'), '--num-frames')
    assert_rejected(run_in_process(TOOL, official_ckpt, str(out), '--source', 'seqformer'), '--source')
    out.write_bytes(b'previous content')
    assert_rejected(run_in_process(TOOL, official_ckpt, str(out), '--num-frames', '3'), '--overwrite')
    assert out.read_bytes() == b'previous content'
    proc = run_in_process(TOOL, official_ckpt, str(out), '--num-frames', '3', '--overwrite')
    assert proc.returncode == 0, proc.stderr
    assert torch.load(out, weights_only=True)['meta']['source_kind'] == 'vistr'
