"""The shipped toy checkpoint meets the toy model's targets through ``tools/test.py`` (docs/toy_model.md)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
# documented in docs/toy_model.md (2026-11-22 test settings); a different CPU or BLAS may move the last digit
DOCUMENTED = {'mAP': 0.511, 'mAP_50': 0.766, 'mAP_75': 0.531}


@pytest.mark.slow
def test_shipped_toy_checkpoint_meets_the_targets(toy_vis_default, tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), CONFIG, CHECKPOINT, '--work-dir', str(tmp_path),
         '--cfg-options', f'test_dataloader.dataset.data_root={toy_vis_default}/'],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS='2'))
    assert proc.returncode == 0, proc.stderr[-5000:]
    [metrics_file] = glob.glob(osp.join(tmp_path, '2*', '2*.json'))
    with open(metrics_file) as f:
        metrics = {k.split('/segm_')[-1]: v for k, v in json.load(f).items()}
    assert metrics['mAP'] >= 0.40 and metrics['mAP_50'] >= 0.70  # the targets
    for name, value in DOCUMENTED.items():
        assert metrics[name] == pytest.approx(value, abs=0.01), (name, metrics)
