"""tools/model_converters/publish_model.py: release checkpoints, and unreadable inputs (one line, exit 2)."""
import os
import pickle

import pytest
import torch
from tool_helpers import REPO, load_module, run_tool, stderr_lines

TOOL = 'model_converters/publish_model.py'


@pytest.fixture(scope='module')
def publish_model():
    return load_module(os.path.join(REPO, 'tools', TOOL))


def _checkpoint():
    state_dict = {'head.weight': torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7,
                  'head.bias': torch.zeros(3), 'bn.num_batches_tracked': torch.tensor(5)}
    meta = dict(dataset_meta=dict(classes=('cat', 'dog')), iter=10, seed=0, mmengine_version='0.10.7',
                hook_msgs=dict(last_ckpt='x'))
    return dict(state_dict=state_dict, meta=meta, optimizer=dict(state={}, param_groups=[]),
                message_hub=dict(log_scalars={}))


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / 'iter_10.pth'
    torch.save(_checkpoint(), path)
    return path


def _rejected(main, capsys, args, *words):
    assert main([str(a) for a in args]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert out == '' and len(lines) == 1 and lines[0].startswith('publish_model.py: error: '), err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_publish_keeps_weights_and_metadata_only(publish_model, ckpt, tmp_path, capsys):
    dst = tmp_path / 'release' / 'model.pth'
    assert publish_model.main([str(ckpt), str(dst), '--fp16']) == 0
    assert f'wrote {dst}' in capsys.readouterr().out
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(out) == {'state_dict', 'meta'}
    assert out['meta'] == dict(dataset_meta=dict(classes=('cat', 'dog')), iter=10, seed=0, mmengine_version='0.10.7',
                               source='iter_10.pth', weights_dtype='float16')
    src = _checkpoint()['state_dict']
    assert out['state_dict']['head.weight'].dtype == torch.float16
    assert torch.equal(out['state_dict']['head.weight'], src['head.weight'].half())
    assert torch.equal(out['state_dict']['bn.num_batches_tracked'], src['bn.num_batches_tracked'])
    assert os.listdir(dst.parent) == ['model.pth']  # no temporary file left


def _truncated(data):
    return data[:len(data) // 2]


def _legacy_truncated(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save(_checkpoint(), path, _use_new_zipfile_serialization=False)
    return path.read_bytes()[:300]


# name -> (bytes of the input, words of the error)
BAD_INPUTS = {
    'truncated to half': (lambda data, tmp: _truncated(data), 'not a readable checkpoint'),
    'truncated to 100 bytes': (lambda data, tmp: data[:100], 'not a readable checkpoint'),
    'truncated legacy format': (lambda data, tmp: _legacy_truncated(tmp), 'not a readable checkpoint'),
    'empty': (lambda data, tmp: b'', 'not a readable checkpoint'),
    'text': (lambda data, tmp: b'hello, not a checkpoint\n', 'not a readable checkpoint'),
    'zip magic, no archive': (lambda data, tmp: b'PK\x03\x04' + bytes(200), 'not a readable checkpoint'),
    'a plain pickle': (lambda data, tmp: pickle.dumps(dict(state_dict={})), 'not a readable checkpoint'),
    'a saved list': (lambda data, tmp: _saved(tmp, [1, 2]), 'not an mmengine checkpoint'),
    'no state_dict': (lambda data, tmp: _saved(tmp, dict(model={})), 'not an mmengine checkpoint'),
    'state_dict of non-tensors': (lambda data, tmp: _saved(tmp, dict(state_dict=dict(a=1))), 'not a mapping'),
}


def _saved(tmp_path, obj):
    path = tmp_path / 'other.pth'
    torch.save(obj, path)
    return path.read_bytes()


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_unreadable_input_is_one_line_and_writes_nothing(publish_model, ckpt, tmp_path, capsys, case):
    make, words = BAD_INPUTS[case]
    bad_dir = tmp_path / 'bad'
    bad_dir.mkdir()
    bad = bad_dir / 'bad.pth'
    bad.write_bytes(make(ckpt.read_bytes(), bad_dir))
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    # a new output is not created; an existing one is not touched even with --overwrite
    _rejected(publish_model.main, capsys, [bad, out_dir / 'new.pth'], str(bad), words)
    (out_dir / 'old.pth').write_bytes(b'previous release')
    _rejected(publish_model.main, capsys, [bad, out_dir / 'old.pth', '--overwrite'], str(bad), words)
    assert os.listdir(out_dir) == ['old.pth'] and (out_dir / 'old.pth').read_bytes() == b'previous release'


def test_existing_output_needs_overwrite(publish_model, ckpt, tmp_path, capsys):
    dst = tmp_path / 'model.pth'
    dst.write_bytes(b'previous release')
    _rejected(publish_model.main, capsys, [ckpt, dst], str(dst), 'exists', '--overwrite')
    assert dst.read_bytes() == b'previous release'
    assert publish_model.main([str(ckpt), str(dst), '--overwrite']) == 0
    assert f'wrote {dst}' in capsys.readouterr().out
    assert torch.load(dst, map_location='cpu', weights_only=True)['meta']['weights_dtype'] == 'float32'
    assert sorted(os.listdir(tmp_path)) == ['iter_10.pth', 'model.pth']
    _rejected(publish_model.main, capsys, [tmp_path / 'none.pth', tmp_path / 'x.pth'], 'none.pth', 'no such file')
    with pytest.raises(SystemExit) as info:  # argparse errors: one line too
        publish_model.main([str(ckpt)])
    assert info.value.code == 2
    assert capsys.readouterr().err == 'publish_model.py: error: the following arguments are required: dst\n'


def test_cli_truncated_checkpoint_no_traceback(ckpt, tmp_path):
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(_truncated(ckpt.read_bytes()))
    proc = run_tool(TOOL, str(cut), str(tmp_path / 'out.pth'))
    lines = stderr_lines(proc)
    assert proc.returncode == 2 and len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert lines[0].startswith(f'publish_model.py: error: {cut}: not a readable checkpoint'), lines[0]
    assert sorted(os.listdir(tmp_path)) == ['cut.pth', 'iter_10.pth']
