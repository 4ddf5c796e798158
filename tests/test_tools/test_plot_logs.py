"""tools/analysis_tools/plot_logs.py on hand-written mmengine scalars.json files."""
import json
import os.path as osp
import struct
import subprocess
import sys

import pytest

from tests.tool_runner import run_in_process

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'plot_logs.py')


def load_tool():
    sys.path.insert(0, osp.dirname(TOOL))
    try:
        import plot_logs
    finally:
        sys.path.pop(0)
    return plot_logs


def run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def run_main(*args):
    """``run`` without a new process (see tests/tool_runner.py)."""
    return run_in_process('analysis_tools/plot_logs.py', *map(str, args))


def train_row(it, loss):
    return dict(lr=2e-4, data_time=0.01, loss=loss, loss_cls=loss / 4, time=0.5, iter=it, step=it)


def write_run(work_dir, stamp, rows):
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


@pytest.fixture
def work_dir(tmp_path):
    """Two runs in one work dir: iterations 1-6 (validated at 6), then a resume from 4 to 8."""
    wd = tmp_path / 'work'
    first = [train_row(i, 10.0 - i) for i in range(1, 7)]
    first.append({'youtube_vis/segm_mAP': 0.25, 'data_time': 0.01, 'time': 1.0, 'step': 6})
    write_run(wd, '20250101_000000', first)
    write_run(wd, '20250102_000000', [train_row(i, 20.0 + i) for i in range(5, 9)])
    return wd


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    assert data[12:16] == b'IHDR'
    return struct.unpack('>II', data[16:24]), len(data)


def test_plot_work_dir_writes_png(work_dir, tmp_path):
    out = tmp_path / 'curves.png'
    proc = run(work_dir, '--keys', 'loss', 'youtube_vis/segm_mAP', '--out', out)
    assert proc.returncode == 0, proc.stderr
    # loss: iterations 1..8 (5 and 6 from the resumed run); the metric: one point
    assert 'loss: 8 points' in proc.stdout and 'youtube_vis/segm_mAP: 1 points' in proc.stdout
    (width, height), nbytes = png_size(out)
    assert (width, height) == (800, 600)  # 8x3 inches per panel at 100 dpi, two panels
    assert nbytes > 10_000
    import matplotlib.image as mpimg
    pixels = mpimg.imread(str(out))
    assert pixels[..., :3].std() > 0.05  # something was drawn
    assert not list(tmp_path.glob('.curves.png*'))  # no temporary file left


def test_series_merge_runs_and_label_axes(work_dir):
    tool = load_tool()
    rows = tool.read_scalars(tool.find_scalar_files(str(work_dir)))
    series = tool.collect_series(rows, ['loss', 'youtube_vis/segm_mAP'])
    xs, ys, label = series['loss']
    assert xs == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ys == [9.0, 8.0, 7.0, 6.0, 25.0, 26.0, 27.0, 28.0]  # the later run wins where runs overlap
    assert label == 'iteration'
    assert series['youtube_vis/segm_mAP'][:2] == ([6], [0.25])
    assert series['youtube_vis/segm_mAP'][2].startswith('step')
    # a run folder or the file itself select one run only
    one = tool.find_scalar_files(str(work_dir / '20250101_000000'))
    assert one == [str(work_dir / '20250101_000000' / 'vis_data' / 'scalars.json')]
    assert tool.find_scalar_files(one[0]) == one


def assert_rejected(proc, *words):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert lines[0].startswith('plot_logs.py: error:')
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_inputs(work_dir, tmp_path):
    out = tmp_path / 'c.png'
    assert_rejected(run(tmp_path / 'missing', '--out', out), 'no such file')  # the script itself; the rest in-process
    assert_rejected(run_main(tmp_path, '--out', out), 'no vis_data/scalars.json')
    not_scalars = tmp_path / 'config.py'
    not_scalars.write_text("model = dict(type='SeqFormer')\n")
    assert_rejected(run_main(not_scalars, '--out', out), 'not a JSON object per line')
    assert_rejected(run_main(work_dir, '--keys', 'nope', '--out', out), 'no values for nope', 'available keys',
                    'loss_cls')
    assert_rejected(run_main(work_dir, '--out', tmp_path / 'c.jpg'), '.png')
    assert_rejected(run_main(work_dir), '--out')
    assert not out.exists()
    out.write_bytes(b'keep me')
    assert_rejected(run_main(work_dir, '--out', out), 'exists')
    assert out.read_bytes() == b'keep me'
