"""AtomicCheckpointHook, RNGStateHook and NonFiniteLossHook on a real mmengine runner with a tiny model."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmseqformer.engine import NonFiniteLossError
from mmseqformer.utils.atomic_write import write_text_atomic


class NoisyRegressor(BaseModel):
    """A regressor with dropout (torch RNG) fed by an augmenting dataset (numpy RNG)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(2, 8), nn.Dropout(0.3), nn.Linear(8, 1)

    def forward(self, inputs, targets, mode='loss'):
        out = self.fc2(self.drop(torch.relu(self.fc1(inputs)))).squeeze(1)
        if mode == 'loss':
            return dict(loss_fit=((out - targets) ** 2).mean(), loss_l1=(out - targets).abs().mean() * 0.1)
        return out


class JitterDataset(torch.utils.data.Dataset):
    """Inputs jittered with numpy's global generator (as mmcv transforms do); ``nan_at`` poisons one target."""

    def __init__(self, n=8, nan_at=None):
        self.n, self.nan_at = n, nan_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = torch.tensor([float(i) + np.random.uniform(-0.1, 0.1), 1.0], dtype=torch.float32)
        y = torch.tensor(float('nan') if i == self.nan_at else 2.0 * i, dtype=torch.float32)
        return x, y


def make_runner(work_dir, max_iters, resume=False, nan_at=None, action='stop', interval=2, keep=2):
    torch.manual_seed(0)  # the model is built before the runner seeds anything
    return Runner(
        model=NoisyRegressor(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=JitterDataset(nan_at=nan_at), batch_size=1, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=interval,
                                           max_keep_ckpts=keep),
                           logger=dict(type='LoggerHook', interval=1), rng_state=dict(type='RNGStateHook'),
                           nonfinite_loss=dict(type='NonFiniteLossHook', action=action, max_skips=1)),
        resume=resume, default_scope='mmdet', randomness=dict(seed=0, deterministic=True))


def state(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def test_resume_restores_rng_and_equals_uninterrupted_run(tmp_path):
    make_runner(tmp_path / 'full', 10).train()
    make_runner(tmp_path / 'cut', 4).train()  # "interrupted" after iteration 4 (epoch 0, half-way)
    runner = make_runner(tmp_path / 'cut', 10, resume=True)
    runner.train()
    assert runner.iter == 10
    full, resumed = state(tmp_path / 'full' / 'iter_10.pth'), state(tmp_path / 'cut' / 'iter_10.pth')
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], atol=1e-6, rtol=0)
    assert 'rng_state' in torch.load(tmp_path / 'full' / 'iter_10.pth', weights_only=False)
    # without the restored generators the resumed run draws other jitter and dropout masks
    other = make_runner(tmp_path / 'norng', 4)
    other.train()
    other = make_runner(tmp_path / 'norng', 10, resume=True)
    other._hooks = [h for h in other._hooks if type(h).__name__ != 'RNGStateHook']
    other.train()
    drift = state(tmp_path / 'norng' / 'iter_10.pth')
    assert any((drift[k] - full[k]).abs().max() > 1e-3 for k in full)


def test_checkpoints_are_renamed_into_place_and_old_ones_pruned(tmp_path):
    make_runner(tmp_path, 7).train()
    names = sorted(osp.basename(p) for p in glob.glob(str(tmp_path / '*.pth')))
    # every 2 iterations plus the last one, max_keep_ckpts=2; nothing half-written or temporary is left
    assert names == ['iter_6.pth', 'iter_7.pth']
    assert not glob.glob(str(tmp_path / '.*'))
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_7.pth')


def test_write_text_atomic_keeps_old_content_on_failure(tmp_path, monkeypatch):
    target = tmp_path / 'last_checkpoint'
    target.write_text('old')

    def broken_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', broken_replace)
    with pytest.raises(OSError):
        write_text_atomic(str(target), 'new')
    assert target.read_text() == 'old' and os.listdir(tmp_path) == ['last_checkpoint']


def test_nonfinite_loss_stops_before_the_step(tmp_path):
    runner = make_runner(tmp_path, 8, nan_at=0, interval=1)
    with pytest.raises(NonFiniteLossError, match=r'iteration \d+: non-finite loss: loss_fit=nan, loss_l1=nan'):
        runner.train()
    stopped_at = runner.iter  # iterations completed before the bad one
    assert osp.isfile(tmp_path / f'iter_{stopped_at}.pth') or stopped_at == 0
    assert not osp.exists(tmp_path / f'iter_{stopped_at + 1}.pth')
    for path in glob.glob(str(tmp_path / 'iter_*.pth')):
        assert all(torch.isfinite(v).all() for v in state(path).values())


def test_nonfinite_loss_skip_drops_only_that_update(tmp_path):
    runner = make_runner(tmp_path, 8, nan_at=3, action='skip', interval=8)
    runner.train()
    params = state(tmp_path / 'iter_8.pth')
    assert all(torch.isfinite(v).all() for v in params.values())
    optimizer = torch.load(tmp_path / 'iter_8.pth', weights_only=False)['optimizer']
    steps = {float(s['step']) for s in optimizer['state'].values()}
    assert steps == {7.0}  # 8 iterations, the one with the NaN target skipped
