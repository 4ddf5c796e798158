"""tools/analysis_tools/benchmark.py: the JSON schema of each mode on a tiny config (timings are not checked)."""
import json

import pytest

from tool_helpers import CONFIG_DIR, run_tool, stderr_lines

TINY = f'{CONFIG_DIR}/seqformer_r18-tiny_1xb2-100i_toy.py'
STAGES = {'backbone', 'neck', 'encoder', 'decoder', 'mask_head', 'postprocess'}
FIELDS = {'device', 'frames', 'short_side', 'sec_per_frame', 'fps', 'stages', 'gflops_per_frame',
          'matmul_gflops', 'efficiency', 'peak_mem_mb', 'stage_peak_mem_mb'}


def test_inference_json_with_lengths(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool('analysis_tools/benchmark.py', TINY, '--frames', '2,5', '--short-side', '64', '--repeat', '1',
                    '--warmup', '0', '--json', str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert FIELDS <= set(result)
    assert result['device'] == 'cpu' and result['frames'] == [2, 5] and result['short_side'] == 64
    assert result['input_hw'] == [64, 114]  # 16:9 by default
    assert STAGES <= set(result['stages']) and all(v >= 0 for v in result['stages'].values())
    assert abs(sum(result['stages'].values()) - result['sec_per_frame']) < 1e-6 * max(1, result['sec_per_frame'])
    assert abs(result['fps'] * result['sec_per_frame'] - 1) < 1e-9
    # convolutions and linear layers are counted; a backbone that computes nothing would be a bug
    assert result['stage_gflops_per_frame']['backbone'] > 0 and result['gflops_per_frame'] > 0
    assert result['matmul_gflops'] > 0
    # every stage was entered, so each has a peak, none above the process's
    peaks = result['stage_peak_mem_mb']
    assert set(peaks) == STAGES and all(0 < mb <= result['peak_mem_mb'] for mb in peaks.values())
    assert abs(result['efficiency'] - result['gflops_per_frame'] / result['sec_per_frame']
               / result['matmul_gflops']) < 1e-9
    assert set(result['mem_by_frames']) == {'2', '5'} and all(v > 100 for v in result['mem_by_frames'].values())
    assert [r['frames'] for r in result['runs']] == [2, 5]
    assert 'mem_growth_mb_per_frame' in result
    assert 'backbone' in proc.stdout and 'frames/s' in proc.stdout


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'amp'])
def test_train_json(tmp_path, amp):
    out = tmp_path / 'train.json'
    proc = run_tool('analysis_tools/benchmark.py', TINY, '--train', '--frames', '3', '--short-side', '64',
                    '--repeat', '1', '--warmup', '0', '--json', str(out), *(['--amp'] if amp else []))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result['mode'] == 'train' and result['frames'] == 3 and result['batch_size'] == 1
    assert result['dtype'] == ('bfloat16' if amp else 'float32')  # on CPU --amp trains under bfloat16 autocast
    assert result['sec_per_iter'] > 0 and result['peak_mem_mb'] > 100


def test_bad_input_one_line_exit_2(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text("model = dict(type='NoSuchModel')\n")
    cases = [['missing.py'], [TINY, '--frames', '0'], [TINY, '--frames', 'a,b'], [TINY, '--aspect', '16x9'],
             [TINY, '--device', 'tpu'], [TINY, str(tmp_path / 'none.pth')], [str(broken), '--frames', '1']]
    for args in cases:
        proc = run_tool('analysis_tools/benchmark.py', *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(stderr_lines(proc)) == 1 and 'error' in proc.stderr and 'Traceback' not in proc.stderr, args
