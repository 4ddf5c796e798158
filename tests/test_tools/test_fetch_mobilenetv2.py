"""tools/model_converters/fetch_mobilenetv2.py without the network: ``--from-file`` and its sha256 check."""
import hashlib
import os

import pytest
import torch
from tool_helpers import REPO, load_module, run_tool, stderr_lines

TOOL = 'model_converters/fetch_mobilenetv2.py'


@pytest.fixture
def fetch(monkeypatch):
    module = load_module(os.path.join(REPO, 'tools', TOOL))

    def no_download(workdir):
        raise AssertionError('the tool must not download with --from-file')

    monkeypatch.setattr(module, 'download_torchvision_file', no_download)
    return module


def _fake_torchvision_file(path):
    """A few tensors under torchvision mobilenet_v2 names; returns the sha256 of the file."""
    state_dict = {'features.0.0.weight': torch.ones(2, 3, 3, 3), 'features.0.1.running_mean': torch.zeros(2),
                  'features.1.conv.0.0.weight': torch.full((2, 1, 3, 3), 2.0),
                  'features.1.conv.1.weight': torch.ones(1),
                  'features.2.conv.2.weight': torch.ones(3), 'features.2.conv.3.bias': torch.ones(3),
                  'features.18.0.weight': torch.ones(4), 'classifier.1.weight': torch.ones(5, 4)}
    torch.save(state_dict, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(capsys):
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert out == '' and len(lines) == 1 and lines[0].startswith('fetch_mobilenetv2.py: error: '), err
    return lines[0]


def test_wrong_sha256_is_one_line_and_writes_nothing(tmp_path):
    fake = tmp_path / 'mobilenet_v2-b0353104.pth'
    fake.write_bytes(b'not the torchvision weights')
    out = tmp_path / 'pretrained' / 'mbv2.pth'
    proc = run_tool(TOOL, '--from-file', str(fake), '--out', str(out))
    lines = stderr_lines(proc)
    assert proc.returncode == 2 and len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    assert lines[0] == (f'fetch_mobilenetv2.py: error: {fake}: sha256 {digest[:16]}... does not start with b0353104 '
                        "(not torchvision's mobilenet_v2-b0353104.pth)")
    assert os.listdir(tmp_path) == ['mobilenet_v2-b0353104.pth']  # no output, no folder, no temporary file


def test_from_file_converts_without_downloading(fetch, monkeypatch, tmp_path, capsys):
    src = tmp_path / 'mobilenet_v2-b0353104.pth'
    monkeypatch.setattr(fetch, 'SHA256_PREFIX', _fake_torchvision_file(src)[:8])
    out = tmp_path / 'pretrained' / 'mbv2.pth'
    assert fetch.main(['--from-file', str(src), '--out', str(out)]) == 0
    assert f'wrote {out} (7 tensors' in capsys.readouterr().out
    converted = torch.load(out, map_location='cpu', weights_only=True)
    assert sorted(converted) == ['conv1.bn.running_mean', 'conv1.conv.weight', 'conv2.conv.weight',
                                 'layer1.0.depthwise_conv.conv.weight', 'layer1.0.linear_conv.conv.weight',
                                 'layer2.0.linear_conv.bn.bias', 'layer2.0.linear_conv.conv.weight']
    assert torch.equal(converted['layer1.0.depthwise_conv.conv.weight'], torch.full((2, 1, 3, 3), 2.0))
    assert os.listdir(out.parent) == ['mbv2.pth']
    # an existing output is kept without --overwrite, replaced with it
    out.write_bytes(b'mine')
    assert fetch.main(['--from-file', str(src), '--out', str(out)]) == 0
    assert 'already exists' in capsys.readouterr().out and out.read_bytes() == b'mine'
    assert fetch.main(['--from-file', str(src), '--out', str(out), '--overwrite']) == 0
    assert sorted(torch.load(out, map_location='cpu', weights_only=True)) == sorted(converted)


def test_from_file_bad_inputs(fetch, monkeypatch, tmp_path, capsys):
    out = tmp_path / 'out' / 'mbv2.pth'
    assert fetch.main(['--from-file', str(tmp_path / 'none.pth'), '--out', str(out)]) == 2
    assert 'none.pth: no such file' in _one_line(capsys)
    # the right checksum but not a torch file (the prefix is patched to the file's own)
    cut = tmp_path / 'cut.pth'
    _fake_torchvision_file(cut)
    cut.write_bytes(cut.read_bytes()[:200])
    monkeypatch.setattr(fetch, 'SHA256_PREFIX', hashlib.sha256(cut.read_bytes()).hexdigest()[:8])
    assert fetch.main(['--from-file', str(cut), '--out', str(out)]) == 2
    assert f'{cut}: not a readable weights file' in _one_line(capsys)
    # a readable file with keys outside torchvision's layout
    other = tmp_path / 'other.pth'
    torch.save({'backbone.weight': torch.ones(1)}, other)
    monkeypatch.setattr(fetch, 'SHA256_PREFIX', hashlib.sha256(other.read_bytes()).hexdigest()[:8])
    assert fetch.main(['--from-file', str(other), '--out', str(out)]) == 2
    assert 'not a torchvision MobileNetV2 key: backbone.weight' in _one_line(capsys)
    assert not out.parent.exists() or os.listdir(out.parent) == []
