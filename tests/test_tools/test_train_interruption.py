"""tools/train.py survives SIGKILL: resuming the killed run ends with the uninterrupted run's weights."""
import glob
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_train_test_tools import ENV, REPO, TINY, data_options, tool

# The tiny model with random flips and official clip sampling (numpy RNG) and dropout (torch RNG), so that a
# resume that did not restore the generators would drift; one thread and deterministic kernels.
CONFIG = f"""
_base_ = {TINY!r}
train_pipeline = [
    dict(type='LocalGlobalFrameSample', num_frames=2),
    dict(type='TransformBroadcaster', share_random_params=True, transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadTrackAnnotations', with_mask=True),
        dict(type='Resize', scale=(160, 96), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5)]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
randomness = dict(seed=0, deterministic=True)
"""
MAX_ITERS = 8


def options(root):
    return ['--cfg-options', *data_options(root), f'train_cfg.max_iters={MAX_ITERS}', 'train_cfg.val_begin=1000',
            'default_hooks.checkpoint.interval=2', 'train_dataloader.dataset.indices=4']


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(toy_vis_small, tmp_path):
    config = tmp_path / 'tiny_kill.py'
    config.write_text(CONFIG)
    full = tool('train.py', config, '--work-dir', tmp_path / 'full', *options(toy_vis_small))
    assert full.returncode == 0, full.stderr[-3000:]

    killed_dir = tmp_path / 'killed'
    proc = subprocess.Popen([sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir',
                             str(killed_dir), *options(toy_vis_small)], cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed_dir / 'iter_4.pth').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-way: iteration 5 or 6 is running, maybe a checkpoint is being written
    proc.wait()
    assert not (killed_dir / f'iter_{MAX_ITERS}.pth').exists(), 'the run finished before it could be killed'
    # whatever the moment of the kill, the pointer names a complete checkpoint
    last = (killed_dir / 'last_checkpoint').read_text().strip()
    assert osp.basename(last) in {'iter_2.pth', 'iter_4.pth', 'iter_6.pth'}
    weights(last)

    resumed = tool('train.py', config, '--work-dir', killed_dir, '--resume', *options(toy_vis_small))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected, got = weights(tmp_path / 'full' / f'iter_{MAX_ITERS}.pth'), weights(killed_dir / f'iter_{MAX_ITERS}.pth')
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0, msg=key)
    assert not glob.glob(str(killed_dir / '.*.tmp'))


@pytest.mark.slow
def test_nonfinite_loss_stops_with_one_line(toy_vis_small, tmp_path):
    config = tmp_path / 'tiny_nan.py'
    config.write_text(CONFIG)
    proc = tool('train.py', config, '--work-dir', tmp_path / 'w', *options(toy_vis_small),
                'model.track_head.loss_cls.loss_weight=nan')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('train.py: error: iteration 1: non-finite loss: ') and 'loss_cls=nan' in last, last
    assert not glob.glob(str(tmp_path / 'w' / '*.pth'))
