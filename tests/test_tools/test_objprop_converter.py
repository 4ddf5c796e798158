"""ObjProp (mmdet v1.0rc0 MaskTrack R-CNN + prop_head) checkpoints -> mmseqformer: the key map and value rules of
``mmseqformer.models.utils.objprop_converter`` on a seeded v1 state dict with every key (made from our R50
OnlineMaskTrackRCNN by the inverse map, plus the 33 official prop_head/neck_attn tensors of the ObjProp parity
folder), and ``tools/model_converters/objprop_to_mmseqformer.py`` end to end."""
import json
import os.path as osp
from collections import OrderedDict

import pytest
import torch
from tool_helpers import REPO, load_module, run_tool, stderr_lines

from mmseqformer.models.utils import objprop_converter as conv
from tests.conftest import objprop_parity_dir
from tests.tool_runner import run_in_process

TOOL = 'model_converters/objprop_to_mmseqformer.py'
CONFIG = osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mask-rcnn_r50_fpn_8xb1-12e_youtubevis2019.py')
# our prefix -> v1 prefix (written out here, not taken from the converter)
INVERSE_PREFIXES = (('detector.backbone.', 'backbone.'), ('detector.neck.', 'neck.'),
                    ('detector.rpn_head.', 'rpn_head.'), ('detector.roi_head.bbox_head.', 'bbox_head.'),
                    ('detector.roi_head.mask_head.', 'mask_head.'), ('track_head.embed_head.', 'track_head.'))
# v1 keys whose values change, and the v1 rows they have for 40 classes
CLASS_ROWS = {'bbox_head.fc_cls.weight': 41, 'bbox_head.fc_cls.bias': 41, 'bbox_head.fc_reg.weight': 164,
              'bbox_head.fc_reg.bias': 164, 'mask_head.conv_logits.weight': 41, 'mask_head.conv_logits.bias': 41,
              'prop_head.conv_logits.weight': 41, 'prop_head.conv_logits.bias': 41}
OBJPROP_GROUPS = [('prop_head', 'neck_attn'), ('prop_head',), ()]


def build_masktrack(**detector):
    """The R50 OnlineMaskTrackRCNN of the YouTube-VIS 2019 config (no pretrained init is loaded at build)."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401

    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet')
    cfg.merge_from_dict(dict(model=dict(detector=detector)))
    return MODELS.build(cfg.model)


def v1_key(ours: str) -> str:
    for new, old in INVERSE_PREFIXES:
        if ours.startswith(new):
            return old + ours[len(new):]
    raise AssertionError(ours)


def our_key(v1: str) -> str:
    for new, old in INVERSE_PREFIXES:
        if v1.startswith(old):
            return new + v1[len(old):]
    assert v1.startswith(('prop_head.', 'neck_attn.')), v1
    return v1


@pytest.fixture(scope='module')
def our_shapes():
    """Key -> shape of our R50 OnlineMaskTrackRCNN (364 keys)."""
    with torch.device('meta'):
        model = build_masktrack()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.fixture(scope='module')
def official_heads(official_objprop_module):
    """The 33 official prop_head/neck_attn tensors (names, shapes and values of official_keys.json)."""
    folder = objprop_parity_dir()
    with open(osp.join(folder, 'official_keys.json')) as f:
        spec = json.load(f)
    heads = official_objprop_module.build_state_dict(folder, check=False, verbose=False)
    assert [e['key'] for e in spec['keys']] == list(heads) and len(heads) == 33
    assert all(tuple(e['shape']) == tuple(heads[e['key']].shape) for e in spec['keys'])
    return heads


@pytest.fixture(scope='module')
def v1_full(our_shapes, official_heads):
    """A seeded v1 ObjProp state dict with every key: detector/track head by the inverse map, then the heads."""
    g = torch.Generator().manual_seed(0)
    sd = OrderedDict()
    for key, shape in our_shapes.items():
        old = v1_key(key)
        shape = (CLASS_ROWS.get(old, shape[0]), *shape[1:]) if shape else shape
        if key.endswith('num_batches_tracked'):
            sd[old] = torch.randint(0, 1000, (), generator=g)
        else:
            sd[old] = torch.randn(shape, generator=g)
    sd.update(official_heads)
    return sd


def with_groups(v1, groups):
    """``v1`` with only the ObjProp groups ``groups`` (prop_head / neck_attn)."""
    return OrderedDict((k, v) for k, v in v1.items() if not k.startswith(conv.OBJPROP_PREFIXES)
                       or k.split('.')[0] in groups)


def expected_shapes(our_shapes, official_heads, groups=('prop_head', 'neck_attn')):
    """Our R50 MaskTrack keys plus the official heads of ``groups`` with 40 conv_logits rows."""
    shapes = dict(our_shapes)
    for key, value in official_heads.items():
        if key.split('.')[0] in groups:
            shapes[key] = (40, *value.shape[1:]) if key.startswith('prop_head.conv_logits.') else tuple(value.shape)
    return shapes


def assert_rejected(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize('groups', OBJPROP_GROUPS, ids=lambda g: '+'.join(g) or 'plain_masktrack')
def test_every_v1_key_converts_to_our_layout(v1_full, our_shapes, official_heads, groups):
    v1 = with_groups(v1_full, groups)
    assert len(v1) == 364 + {2: 33, 1: 28, 0: 0}[len(groups)]
    out, layout = conv.convert_objprop_state_dict(v1)
    assert {k: tuple(v.shape) for k, v in out.items()} == expected_shapes(our_shapes, official_heads, groups)
    assert layout == dict(depth=50, num_classes=40, prop_head='prop_head' in groups,
                          neck_attn='neck_attn' in groups, added_keys=[])


def test_value_rules(v1_full):
    out, _ = conv.convert_objprop_state_dict(v1_full)
    for p in ('weight', 'bias'):
        old, new = v1_full[f'bbox_head.fc_cls.{p}'], out[f'detector.roi_head.bbox_head.fc_cls.{p}']
        assert new.shape == old.shape  # 41 rows kept, background moved last
        assert torch.equal(new[-1], old[0]) and torch.equal(new[:-1], old[1:])
        assert torch.equal(out[f'detector.roi_head.bbox_head.fc_reg.{p}'], v1_full[f'bbox_head.fc_reg.{p}'][4:])
        assert torch.equal(out[f'detector.roi_head.mask_head.conv_logits.{p}'],
                           v1_full[f'mask_head.conv_logits.{p}'][1:])
        assert torch.equal(out[f'prop_head.conv_logits.{p}'], v1_full[f'prop_head.conv_logits.{p}'][1:])
    changed = {f'{m}.{p}' for m in ('bbox_head.fc_cls', 'bbox_head.fc_reg', 'mask_head.conv_logits',
                                    'prop_head.conv_logits') for p in ('weight', 'bias')}
    plain = [k for k in v1_full if k not in changed]
    assert len(plain) == 397 - 8
    for key in plain:
        new = out[our_key(key)]
        assert new.dtype == v1_full[key].dtype and torch.equal(new, v1_full[key]), key
    assert out['prop_head.convs.1.num_batches_tracked'].dtype == torch.int64


def test_masktrack_part_loads_strictly(v1_full):
    from mmseqformer.models.layers import InterFrameAttnNeck

    out, _ = conv.convert_objprop_state_dict(v1_full)
    masktrack, objprop = conv.split_objprop(out)
    assert {k.split('.')[0] for k in objprop} == {'prop_head', 'neck_attn'} and len(objprop) == 33
    model = build_masktrack()
    model.load_state_dict(masktrack, strict=True)
    assert torch.equal(model.detector.roi_head.bbox_head.fc_cls.weight[40], v1_full['bbox_head.fc_cls.weight'][0])
    assert torch.equal(model.track_head.embed_head.fcs[1].bias, v1_full['track_head.fcs.1.bias'])
    assert torch.equal(model.detector.backbone.layer4[2].bn3.running_var,
                       v1_full['backbone.layer4.2.bn3.running_var'])
    neck = InterFrameAttnNeck(256)  # the attention neck's keys are those of our existing layer
    neck.load_state_dict({k[len('neck_attn.'):]: v for k, v in objprop.items() if k.startswith('neck_attn.')},
                         strict=True)


def test_whole_checkpoint_loads_strictly_into_the_objprop_attn_neck_config(v1_full):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'objprop',
                                   'objprop_masktrack-rcnn_r50_fpn_attn-neck_8xb4-12e_youtubevis2019.py'))
    model = MODELS.build(cfg.model)
    out, _ = conv.convert_objprop_state_dict(v1_full)
    model.load_state_dict(out, strict=True)
    assert torch.equal(model.prop_head.conv_logits.weight, v1_full['prop_head.conv_logits.weight'][1:])
    assert torch.equal(model.neck_attn.gamma, v1_full['neck_attn.gamma'])


def test_wrappers_prefix_and_missing_buffers(v1_full):
    v1 = OrderedDict((f'module.{k}', v) for k, v in v1_full.items() if not k.endswith('num_batches_tracked'))
    sd = conv.unwrap_checkpoint(dict(state_dict=v1, meta=dict(mmdet_version='1.0rc0+d3ca926'), optimizer={}))
    out, layout = conv.convert_objprop_state_dict(sd)
    assert len(layout['added_keys']) == 53 + 2  # backbone BNs + the 2 prop_head BNs, as 0
    assert torch.equal(out['detector.backbone.bn1.num_batches_tracked'], torch.tensor(0))
    assert conv.unwrap_checkpoint(dict(model=v1_full)) == v1_full
    with pytest.raises(ValueError, match='both with and without'):
        conv.unwrap_checkpoint({'a.weight': torch.zeros(1), 'module.a.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='no state dict'):
        conv.unwrap_checkpoint(dict(epoch=3, meta={}))


def test_class_count_comes_from_the_checkpoint(v1_full):
    """25 classes (another data set): 26 fc_cls rows, 104 fc_reg rows, 26 conv_logits channels."""
    tool = load_module(osp.join(REPO, 'tools', TOOL))
    v1 = OrderedDict(v1_full)
    for key, rows in CLASS_ROWS.items():
        v1[key] = v1[key][:rows * 26 // 41]
    out, meta = tool.convert(v1)  # checked against the config's model built with 25 classes
    assert meta['num_classes'] == 25
    assert out['detector.roi_head.bbox_head.fc_cls.weight'].shape == (26, 1024)
    assert out['detector.roi_head.bbox_head.fc_reg.bias'].shape == (100,)
    assert out['prop_head.conv_logits.weight'].shape == (25, 256, 1, 1)
    v1['mask_head.conv_logits.bias'] = v1_full['mask_head.conv_logits.bias']  # 41 rows against fc_cls's 26
    with pytest.raises(conv.CheckpointMismatchError, match='mask_head.conv_logits.bias has 41'):
        conv.convert_objprop_state_dict(v1)


def test_unknown_and_missing_keys_are_value_errors(v1_full):
    extra = OrderedDict(v1_full, **{'semantic_head.conv.weight': torch.zeros(1), 'bbox_head.fc_iou.bias':
                                    torch.zeros(1)})
    with pytest.raises(ValueError, match=r'2 keys are not .*: semantic_head.conv.weight, bbox_head.fc_iou.bias'):
        conv.convert_objprop_state_dict(extra)
    missing = OrderedDict((k, v) for k, v in v1_full.items() if not k.startswith(('track_head.', 'prop_head.upsample')))
    with pytest.raises(conv.MissingKeyError, match='6 keys .* missing: track_head.fcs.0.weight'):
        conv.convert_objprop_state_dict(missing)
    assert issubclass(conv.MissingKeyError, ValueError) and issubclass(conv.UnknownKeyError, ValueError)


@pytest.fixture(scope='module')
def official_ckpt(v1_full, tmp_path_factory):
    """``v1_full`` saved as mmcv v1 does, with a DataParallel prefix."""
    path = tmp_path_factory.mktemp('objprop') / 'objprop_r50_official.pth'
    sd = OrderedDict((f'module.{k}', v) for k, v in v1_full.items())
    torch.save(dict(state_dict=sd, meta=dict(mmdet_version='1.0rc0+d3ca926', epoch=12)), path)
    return str(path)


def test_tool_end_to_end(official_ckpt, our_shapes, official_heads, tmp_path):
    dst = tmp_path / 'out' / 'objprop_r50.pth'
    proc = run_tool(TOOL, official_ckpt, str(dst))
    assert proc.returncode == 0, proc.stderr
    assert 'R50, 40 classes, prop_head + neck_attn' in proc.stdout and str(dst) in proc.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    state = ckpt['state_dict']
    assert {k: tuple(v.shape) for k, v in state.items()} == expected_shapes(our_shapes, official_heads)
    meta = ckpt['meta']
    assert (meta['depth'], meta['num_classes'], meta['source_keys'], meta['converted_keys']) == (50, 40, 397, 397)
    assert meta['source_mmdet_version'] == '1.0rc0+d3ca926' and meta['source'] == 'objprop_r50_official.pth'
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['objprop_r50.pth']  # no temporary left


def test_tool_plain_masktrack_checkpoint(v1_full, our_shapes, tmp_path):
    src, dst = tmp_path / 'masktrack_v1.pth', tmp_path / 'masktrack.pth'
    torch.save(dict(state_dict=with_groups(v1_full, ())), src)
    proc = run_in_process(TOOL, str(src), str(dst))
    assert proc.returncode == 0, proc.stderr
    assert 'no prop_head' in proc.stdout
    ckpt = torch.load(dst, weights_only=True)
    assert {k: tuple(v.shape) for k, v in ckpt['state_dict'].items()} == our_shapes
    assert not ckpt['meta']['prop_head'] and not ckpt['meta']['neck_attn']


def test_tool_refuses_unknown_keys_in_a_subprocess(tmp_path):
    src, dst = tmp_path / 'vistr.pth', tmp_path / 'out.pth'
    torch.save(dict(model={'vistr.query_embed.weight': torch.zeros(3, 4), 'backbone.conv1.weight': torch.zeros(1)}),
               src)
    assert_rejected(run_tool(TOOL, str(src), str(dst)), 'UnknownKeyError', 'vistr.query_embed.weight')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['vistr.pth']


def test_tool_bad_input_exits_2(v1_full, official_ckpt, tmp_path, monkeypatch):
    dst = tmp_path / 'out.pth'

    def rejected(state_dict, *words):
        src = tmp_path / 'src.pth'
        torch.save(state_dict, src)
        assert_rejected(run_in_process(TOOL, str(src), str(dst)), *words)

    rejected({k: v for k, v in v1_full.items() if not k.startswith('mask_head.convs.2')}, 'MissingKeyError',
             'mask_head.convs.2.conv.weight')
    wrong = OrderedDict(v1_full, **{'neck_attn.conv1.weight': torch.zeros(256, 256, 1, 1)})
    rejected(wrong, 'does not fit', 'neck_attn.conv1.weight (256, 256, 1, 1) vs (256, 256, 3, 3)')
    rejected(dict(epoch=3, lr=0.1), 'no state dict')
    assert_rejected(run_in_process(TOOL, str(tmp_path / 'missing.pth'), str(dst)), 'no such file')
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(open(official_ckpt, 'rb').read(4096))
    assert_rejected(run_in_process(TOOL, str(truncated), str(dst)), 'cannot read')
    assert_rejected(run_in_process(TOOL, official_ckpt, str(dst), '--config', str(truncated)), 'cannot build')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src.pth', 'truncated.pth']
    # a failed write leaves neither DST nor a temporary file
    def failing_save(obj, f):
        f.write(b'partial')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', failing_save)
    assert_rejected(run_in_process(TOOL, official_ckpt, str(dst)), 'No space left')
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src.pth', 'truncated.pth']
    # an existing DST is kept unless --overwrite
    dst.write_bytes(b'previous content')
    assert_rejected(run_in_process(TOOL, official_ckpt, str(dst)), '--overwrite')
    assert dst.read_bytes() == b'previous content'
    proc = run_in_process(TOOL, official_ckpt, str(dst), '--overwrite')
    assert proc.returncode == 0, proc.stderr
    assert torch.load(dst, weights_only=True)['meta']['prop_head'] is True
