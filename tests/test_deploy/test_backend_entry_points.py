"""--backend onnxruntime|openvino in the demo, tools/test.py and the benchmark: PyTorch's tracks, one-line errors."""
import json
import os.path as osp

import pytest
from pycocotools import mask as mask_util

from ..conftest import run_toy_test_tool
from ..tool_runner import REPO, run_in_process, run_script
from .conftest import R50_CONFIG, TOY_CHECKPOINT, TOY_CONFIG

TOY_CLIP = osp.join(REPO, 'demo', 'data', 'toy_clip.mp4')
# `make demo`'s json of the toy clip (PyTorch), as tests/test_apis/test_video_demo.py holds the demo to it
STORED_RESULTS = osp.join(REPO, 'tests', 'data', 'toy_clip_demo_results_152cd05.json')
DEMO = '../demo/video_demo.py'


def pixel_agreement(a: dict, b: dict) -> float:
    same = total = 0
    for ra, rb in zip(a['segmentations'], b['segmentations']):
        assert (ra is None) == (rb is None)
        if ra is not None:
            ma, mb = mask_util.decode(ra), mask_util.decode(rb)
            same, total = same + (ma == mb).sum(), total + ma.size
    return same / max(total, 1)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_demo_gives_pytorchs_tracks(backend, toy_export, tmp_path):
    out_json = tmp_path / 'toy.json'
    proc = run_in_process(DEMO, TOY_CLIP, TOY_CONFIG, toy_export, '--backend', backend, '--out-json', str(out_json),
                          '--no-video')
    assert proc.returncode == 0, proc.stderr[-3000:]
    got, want = json.loads(out_json.read_text()), json.load(open(STORED_RESULTS))
    assert len(got) == len(want) == 10
    for a, b in zip(got, want):  # same tracks in the same order
        assert (a['video_id'], a['category_id']) == (b['video_id'], b['category_id'])
        assert a['score'] == pytest.approx(b['score'], abs=1e-4)
        assert pixel_agreement(a, b) >= 0.9999


def assert_one_line(proc, prog, *words):
    """Exit 2 and one line ``<prog>: error: ...`` (the demo's lines start with ``error: ``)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    prefix = 'error: ' if prog == 'video_demo.py' else f'{prog}: error: '
    assert len(lines) == 1 and lines[0].startswith(prefix), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_wrong_folder_or_config_is_one_line(toy_export, tmp_path):
    out = str(tmp_path / 'x.json')
    demo = [TOY_CLIP, TOY_CONFIG]
    assert_one_line(run_in_process(DEMO, *demo, TOY_CHECKPOINT, '--backend', 'onnxruntime', '--out-json', out,
                                   '--no-video'), 'video_demo.py', 'not a checkpoint file')
    assert_one_line(run_in_process(DEMO, *demo, str(tmp_path), '--backend', 'onnxruntime', '--out-json', out,
                                   '--no-video'), 'video_demo.py', 'deploy.json')
    # the R50 config is another network than the one exported: named at its first differing key
    assert_one_line(run_in_process(DEMO, TOY_CLIP, R50_CONFIG, toy_export, '--backend', 'onnxruntime',
                                   '--out-json', out, '--no-video'), 'video_demo.py', 'another model config', 'model.')
    # the graphs take normalized frames: another normalization in the config is refused
    assert_one_line(run_in_process(DEMO, *demo, toy_export, '--backend', 'onnxruntime', '--out-json', out,
                                   '--no-video', '--cfg-options', 'model.data_preprocessor.mean=[0,0,0]'),
                    'video_demo.py', 'exported with mean=', 'model.data_preprocessor')
    # test rules are not the network: windows of another size run on the same export
    proc = run_in_process(DEMO, *demo, toy_export, '--backend', 'openvino', '--out-json', out, '--no-video',
                          '--window-size', '4')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_one_line(run_in_process('test.py', TOY_CONFIG, TOY_CHECKPOINT, '--backend', 'onnxruntime',
                                   '--work-dir', str(tmp_path / 'w')), 'test.py', 'not a checkpoint file')
    assert not (tmp_path / 'w').exists()


def test_benchmark_side_by_side(toy_export, tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_script('analysis_tools/benchmark.py', TOY_CONFIG, TOY_CHECKPOINT, '--frames', '3', '--short-side',
                      '160', '--repeat', '1', '--warmup', '0', '--backend', 'pytorch,onnxruntime,openvino',
                      '--deploy-dir', toy_export, '--json', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result['side_by_side'] and list(result['backends']) == ['pytorch', 'onnxruntime', 'openvino']
    assert result['ratio_to_pytorch']['pytorch'] == 1.0
    pytorch, ort = result['backends']['pytorch'], result['backends']['onnxruntime']
    assert list(ort['stages']) == ['encode', 'decode', 'masks', 'postprocess', 'other']
    assert ort['backend'] == 'onnxruntime' and ort['gflops_per_frame'] == pytest.approx(pytorch['gflops_per_frame'])
    for name, r in result['backends'].items():
        assert r['frames'] == 3 and r['input_hw'] == [160, 284]
        assert result['ratio_to_pytorch'][name] == pytest.approx(r['sec_per_frame'] / pytorch['sec_per_frame'])
    assert '[onnxruntime]' in proc.stdout and 's/frame relative to pytorch' in proc.stdout
    proc = run_in_process('analysis_tools/benchmark.py', TOY_CONFIG, '--backend', 'onnxruntime')
    assert_one_line(proc, 'benchmark.py', '--deploy-dir')


@pytest.mark.slow
def test_toy_valid_metrics_equal_pytorchs(toy_export, toy_vis_default, seqformer_toy_metrics, tmp_path):
    """tools/test.py on the toy valid split through ONNX Runtime: PyTorch's figures on this machine, to 3 decimals."""
    metrics = run_toy_test_tool(TOY_CONFIG, toy_export, toy_vis_default, str(tmp_path), '--backend', 'onnxruntime')
    for name in ('mAP', 'mAP_50', 'mAP_75', 'AR@1', 'AR@10'):
        assert round(metrics[name], 3) == round(seqformer_toy_metrics[name], 3), (name, metrics, seqformer_toy_metrics)


def test_op_profile_names_the_operators_of_each_graph(toy_export):
    from mmseqformer.apis import init_model
    from mmseqformer.deploy.op_profile import profile_ops
    model = init_model(TOY_CONFIG, toy_export, backend='onnxruntime')
    frames = model.data_preprocessor.mean.new_zeros((2, 3, 96, 128)).normal_()
    result = profile_ops(toy_export, frames, num_queries=3)
    assert list(result) == ['encode', 'decode', 'masks']
    assert {'Conv', 'GridSample', 'MatMul'} <= set(result['encode']) and 'GridSample' in result['decode']
    for seconds in result.values():
        assert all(s >= 0 for s in seconds.values()) and sum(seconds.values()) > 0
        assert list(seconds.values()) == sorted(seconds.values(), reverse=True)
    proc = run_in_process('analysis_tools/onnx_op_profile.py', TOY_CONFIG, toy_export, '--frames', '2',
                          '--short-side', '96')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('encode: ') and 'GridSample' in proc.stdout and '\nmasks: ' in proc.stdout
    assert_one_line(run_in_process('analysis_tools/onnx_op_profile.py', TOY_CONFIG, TOY_CHECKPOINT),
                    'onnx_op_profile.py', 'not a checkpoint file')
