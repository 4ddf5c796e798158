"""tools/model_converters/seqformer_to_mmseqformer.py on the official-format parity weights."""
import argparse
import os.path as osp

import pytest
import torch
from tool_helpers import CONFIG_DIR, REPO, build_model, load_module, run_tool, stderr_lines

from tests.tool_runner import run_in_process

TOOL = 'model_converters/seqformer_to_mmseqformer.py'


@pytest.fixture(scope='module')
def official_ckpt(official_state_dict, tmp_path_factory):
    """The parity weights saved as the official training script does: {'model': sd, 'args': Namespace, ...}.

    The pickled Namespace makes a weights-only load fail, so the tool's trusted-file fallback is exercised.
    """
    path = tmp_path_factory.mktemp('official') / 'seqformer_r50_official.pth'
    torch.save(dict(model=official_state_dict, epoch=11, args=argparse.Namespace(backbone='resnet50')), path)
    return str(path)


def convert(src, dst, *extra):
    proc = run_tool(TOOL, str(src), str(dst), *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def assert_rejected(proc, *words):
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def check_loaded(model, official, rows):
    """Spot-check tensors of a model loaded from the converted checkpoint against the official ones."""
    for lid in (0, 5):
        assert torch.equal(model.track_head.cls_branches[lid].weight, official[f'detr.class_embed.{lid}.weight'][rows])
        assert torch.equal(model.track_head.cls_branches[lid].bias, official[f'detr.class_embed.{lid}.bias'][rows])
    assert torch.equal(model.decoder.layers[3].norms[1].weight,
                       official['detr.transformer.decoder.layers.3.norm1.weight'])
    assert torch.equal(model.decoder.layers[3].box_norms[2].bias,
                       official['detr.transformer.decoder.layers.3.norm3_box.bias'])
    assert torch.equal(model.backbone.conv1.weight, official['detr.backbone.0.body.conv1.weight'])
    assert torch.equal(model.backbone.layer3[5].bn2.running_var,
                       official['detr.backbone.0.body.layer3.5.bn2.running_var'])
    assert torch.equal(model.track_head.reg_branches[2][4].weight, official['detr.bbox_embed.2.layers.2.weight'])
    assert torch.equal(model.query_embedding.weight, official['detr.query_embed.weight'])


def test_ytvis40_rows(official_ckpt, official_state_dict, tmp_path):
    dst = tmp_path / 'r50_ytvis40.pth'
    proc = convert(official_ckpt, dst)
    # 733 official keys: 36 bbox_embed aliases and 12 dead encoder output_proj_box tensors are dropped
    assert 'kept 685 keys, dropped 48' in proc.stdout and str(dst) in proc.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['class_rows'] == 'ytvis40' and ckpt['meta']['num_classes'] == 40
    assert ckpt['meta']['source_keys'] == len(official_state_dict) == 733
    model = build_model()
    model.load_state_dict(ckpt['state_dict'], strict=True)
    check_loaded(model, official_state_dict, slice(1, 41))
    assert not list(tmp_path.glob('.*.tmp'))  # the temporary file was renamed


def test_all_rows(official_ckpt, official_state_dict, tmp_path):
    dst = tmp_path / 'r50_all.pth'
    convert(official_ckpt, dst, '--class-rows', 'all')
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['num_classes'] == 42
    model = build_model(num_classes=42)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    check_loaded(model, official_state_dict, slice(0, 42))


def test_bare_state_dict(official_state_dict, tmp_path):
    """A bare state dict (no 'model' wrapper) converts the same way."""
    keys = [k for k in official_state_dict if k.startswith(('detr.class_embed.', 'controller.'))]
    src = tmp_path / 'bare.pth'
    torch.save({k: official_state_dict[k] for k in keys}, src)
    convert(src, tmp_path / 'out.pth')
    sd = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert torch.equal(sd['track_head.cls_branches.4.bias'], official_state_dict['detr.class_embed.4.bias'][1:41])
    assert torch.equal(sd['track_head.mask_head.controller.layers.2.weight'],
                       official_state_dict['controller.layers.2.weight'])


def synthetic_class_head():
    """An official-format class head (42 rows) that needs no parity files."""
    return {'detr.class_embed.0.weight': torch.arange(42 * 256.).view(42, 256),
            'detr.class_embed.0.bias': torch.arange(42.)}


def test_bad_inputs_exit_2(tmp_path):
    small = synthetic_class_head()
    good = tmp_path / 'good.pth'
    torch.save(dict(model=small), good)
    out = tmp_path / 'out.pth'

    # the script itself once, then main() in this process (tests/tool_runner.py)
    assert_rejected(run_tool(TOOL, str(tmp_path / 'missing.pth'), str(out)), 'no such file')

    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:-200])
    assert_rejected(run_in_process(TOOL, str(truncated), str(out)), 'cannot read')

    unknown = tmp_path / 'unknown.pth'
    torch.save(dict(model=dict(small, **{'detr.transformer.extra_head.weight': torch.zeros(2)})), unknown)
    assert_rejected(run_in_process(TOOL, str(unknown), str(out)), 'UnknownKeyError',
                    'detr.transformer.extra_head.weight')

    wrong_rows = tmp_path / 'wrong_rows.pth'
    torch.save(dict(model={'detr.class_embed.0.weight': torch.zeros(41, 256)}), wrong_rows)
    assert_rejected(run_in_process(TOOL, str(wrong_rows), str(out)), '42')

    swin = tmp_path / 'swin.pth'
    torch.save(dict(model=dict(small, **{'detr.backbone.0.body.patch_embed.proj.weight': torch.zeros(2)})), swin)
    assert_rejected(run_in_process(TOOL, str(swin), str(out)), 'Swin', 'not supported')

    not_sd = tmp_path / 'not_sd.pth'
    torch.save(dict(epoch=3, lr=0.1), not_sd)
    assert_rejected(run_in_process(TOOL, str(not_sd), str(out)), 'state dict')

    assert_rejected(run_in_process(TOOL, str(good), str(out), '--class-rows', 'coco'), 'class-rows')
    assert not out.exists()


def test_existing_output_kept_without_overwrite(tmp_path):
    src = tmp_path / 'src.pth'
    torch.save(dict(model=synthetic_class_head()), src)
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'previous content')
    assert_rejected(run_tool(TOOL, str(src), str(dst)), '--overwrite')
    assert dst.read_bytes() == b'previous content'
    convert(src, dst, '--overwrite')
    assert torch.equal(torch.load(dst, weights_only=True)['state_dict']['track_head.cls_branches.0.bias'],
                       torch.arange(1., 41.))
    assert osp.getsize(dst) > len(b'previous content')


@pytest.mark.parametrize('config', ['seqformer_r101_8xb2-12e_youtubevis2019.py',
                                    'seqformer_x101-32x8d_8xb1-12e_youtubevis2019.py'])
def test_deeper_resnet_layouts_convert(config, official_state_dict):
    """R101 / X101 official checkpoints differ from R50 only in backbone blocks (torchvision names, which
    mmdet's ResNet/ResNeXt share): an official-format dict with such a backbone loads strictly."""
    model = build_model(osp.join(CONFIG_DIR, config))
    backbone = {f'detr.backbone.0.body.{k}': torch.full_like(v, i % 7) for i, (k, v) in
                enumerate(model.backbone.state_dict().items()) if not k.endswith('num_batches_tracked')}
    official = {k: v for k, v in official_state_dict.items() if not k.startswith('detr.backbone.')}
    official.update(backbone)
    tool = load_module(osp.join(REPO, 'tools', TOOL))
    converted, meta = tool.convert(official, 'ytvis40')
    model.load_state_dict(converted, strict=True)
    assert meta['num_classes'] == 40
    assert torch.equal(model.backbone.layer3[22].conv2.weight, backbone['detr.backbone.0.body.layer3.22.conv2.weight'])
