"""tools/deployment/export_onnx.py: the exported folder, and bad input as one line with nothing left behind."""
import json
import os
import os.path as osp
import shutil

import onnx
import pytest

from ..tool_runner import REPO, run_in_process
from .conftest import EXPORT_TOOL as TOOL
from .conftest import TOY_CHECKPOINT, TOY_CONFIG

MASKTRACK_CONFIG = osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.py')
MASKTRACK_CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.pth')


def leftovers(folder) -> list:
    return [name for name in os.listdir(folder) if name.startswith('.export_onnx_')]


def test_folder_layout_and_manifest(toy_cli_export, toy_model):
    out, proc = toy_cli_export
    assert proc.stdout.startswith(f'wrote {out}: ') and 'checked in onnxruntime on 3 clips' in proc.stdout
    assert proc.stderr == ''  # the exporter's own progress and warnings are not shown
    assert sorted(os.listdir(out)) == ['config.py', 'decode.onnx', 'deploy.json', 'encode.onnx', 'masks.onnx']
    assert leftovers(osp.dirname(out)) == []
    with open(osp.join(out, 'deploy.json')) as f:
        manifest = json.load(f)
    assert manifest['graph_order'] == ['encode', 'decode', 'masks']
    assert manifest['per_frame_keys'] == ['memory_l0', 'memory_l1', 'memory_l2', 'memory_l3', 'mask_feats']
    assert manifest['model']['type'] == 'SeqFormer' and manifest['checkpoint']['file'] == osp.basename(TOY_CHECKPOINT)
    assert manifest['classes'] == list(toy_model.dataset_meta['classes']) and len(manifest['classes']) == 6
    assert manifest['test_cfg']['window_size'] == 2 and manifest['test_cfg']['max_per_video'] == 10
    # what the runtime needs to make the graphs' input: the config's normalization (checked at load) and resize
    pre = toy_model.data_preprocessor
    assert manifest['input']['mean'] == pre.mean.flatten().tolist() and manifest['input']['std'] == pre.std.flatten(
    ).tolist() and manifest['input']['bgr_to_rgb'] is True and manifest['input']['resize'] is None
    assert manifest['input_sides'] == [toy_model.min_input_side, toy_model.max_input_side]
    # the check ran on clips of 3, 2 and 1 frames of different sizes, all within the tolerances
    samples = manifest['check']['samples']
    assert [s['frames'][0] for s in samples] == [3, 2, 1] and len({tuple(s['frames'][2:]) for s in samples}) == 3
    for sample in samples:
        for graph in ('encode', 'decode', 'masks'):
            for name, entry in sample[graph].items():
                assert entry['max_abs_diff'] <= entry['tolerance'], (graph, name, entry)
        assert sample['masks']['mask_logits']['sign_agreement'] >= 0.9999


def test_graphs_pass_the_checker_with_symbolic_sizes(toy_cli_export):
    out, _ = toy_cli_export
    for name, dims in (('encode', {'frames': ['frames', None, 'height', 'width']}),
                       ('masks', {'inst_queries': ['queries', None], 'mask_feats': ['frames', None, 'H8', 'W8']})):
        model = onnx.load(osp.join(out, f'{name}.onnx'))
        onnx.checker.check_model(model, full_check=True)
        inputs = {i.name: [d.dim_param or None for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
        for key, want in dims.items():
            assert [bool(d) for d in inputs[key]] == [bool(d) for d in want], (name, key, inputs[key])


def run(*args):
    return run_in_process(TOOL, *args)


def assert_refused(proc, *words, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('export_onnx.py: error: '), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_input_is_one_line_and_leaves_nothing(deploy_packages, tmp_path):
    out = str(tmp_path / 'out')
    text = tmp_path / 'not_a_checkpoint.pth'
    text.write_text('hello')
    (tmp_path / 'file').write_text('x')
    cases = [
        ((TOY_CONFIG, 'missing.pth', '--out', out), ('missing.pth', 'no such checkpoint')),
        ((MASKTRACK_CONFIG, MASKTRACK_CHECKPOINT, '--out', out), ('OnlineMaskTrackRCNN', 'offline clip models')),
        ((TOY_CONFIG, MASKTRACK_CHECKPOINT, '--out', out), ('masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.pth',)),
        ((TOY_CONFIG, str(text), '--out', out), ('not_a_checkpoint.pth',)),
        ((TOY_CONFIG, TOY_CHECKPOINT, '--out', str(tmp_path / 'file' / 'out')), ('file',)),
        ((TOY_CONFIG, TOY_CHECKPOINT, '--out', str(tmp_path / 'file')), ('exists',)),
        ((TOY_CONFIG, TOY_CHECKPOINT, '--out', str(tmp_path / 'no' / 'such' / 'out')), ('no such folder',)),
    ]
    for args, words in cases:
        assert_refused(run(*args), *words)
        assert not osp.exists(out) and leftovers(tmp_path) == []
    assert (tmp_path / 'file').read_text() == 'x'


def test_an_existing_folder_is_kept_without_overwrite(deploy_packages, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'mine.txt').write_text('keep')
    assert_refused(run(TOY_CONFIG, TOY_CHECKPOINT, '--out', str(out)), 'exists', '--overwrite')
    assert (out / 'mine.txt').read_text() == 'keep'


def test_a_failed_check_exits_1_and_leaves_nothing(toy_export, tmp_path, monkeypatch):
    from mmseqformer.deploy import export

    def copy_exported(graph, args, path):  # the session's export of the same graphs: tracing them again costs minutes
        shutil.copyfile(osp.join(toy_export, f'{graph.name}.onnx'), path)

    def fail(graph, names, ref, got):
        raise export.ExportError(f'graph {graph!r} output {names[0]!r} differs from PyTorch: (forced)')
    monkeypatch.setattr(export, '_export_graph', copy_exported)
    monkeypatch.setattr(export, 'compare_outputs', fail)
    out = tmp_path / 'out'
    assert_refused(run(TOY_CONFIG, TOY_CHECKPOINT, '--out', str(out)), "graph 'encode'", 'differs', code=1)
    assert not out.exists() and leftovers(tmp_path) == []


def test_overwrite_replaces_the_folder_whole(tmp_path):
    from mmseqformer.deploy.export import _move_into_place
    old, new = tmp_path / 'out', tmp_path / 'new'
    old.mkdir()
    (old / 'a').write_text('old')
    new.mkdir()
    (new / 'b').write_text('new')
    with pytest.raises(FileExistsError):
        _move_into_place(str(new), str(old), overwrite=False)
    _move_into_place(str(new), str(old), overwrite=True)
    assert sorted(os.listdir(old)) == ['b'] and sorted(os.listdir(tmp_path)) == ['out']
