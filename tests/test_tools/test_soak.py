"""tools/analysis_tools/soak.py: slope fit and the JSON of a very short run (the real soak is not part of CI)."""
import json

import pytest

from tool_helpers import CONFIG_DIR, REPO, load_module, run_tool

TINY = f'{CONFIG_DIR}/seqformer_r18-tiny_1xb2-100i_toy.py'


def test_slope_ignores_warmup_and_is_per_100_steps():
    soak = load_module(f'{REPO}/tools/analysis_tools/soak.py')
    flat_after_warmup = [500.0, 900.0] + [1000.0] * 8
    assert soak.slope_per_100(flat_after_warmup, 0.2) == 0.0
    assert soak.slope_per_100([100 + 0.5 * i for i in range(50)], 0.2) == pytest.approx(50.0)
    assert soak.slope_per_100([1.0], 0.0) == 0.0


@pytest.mark.slow
def test_short_run_writes_samples_and_slopes(toy_vis_small, tmp_path):
    out = tmp_path / 'soak.json'
    proc = run_tool('analysis_tools/soak.py', '--train-iters', '3', '--infer-runs', '2', '--train-config', TINY,
                    '--data-root', toy_vis_small, '--json', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert len(result['train_rss_mb']) == 3 and len(result['infer_rss_mb']) == 2
    assert all(v > 100 for v in result['train_rss_mb'] + result['infer_rss_mb'])
    assert isinstance(result['train_slope_mb_per_100'], float) and isinstance(result['infer_slope_mb_per_100'], float)
    assert result['trim'] is True and result['mmap_threshold'] is None  # glibc: freed heap pages returned
    assert 'train: 3 samples' in proc.stdout and 'infer: 2 samples' in proc.stdout


def test_missing_data_is_one_line(tmp_path):
    proc = run_tool('analysis_tools/soak.py', '--train-iters', '2', '--data-root', str(tmp_path / 'none'))
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'no toy dataset there' in proc.stderr
