"""Two gloo processes with one clip each compute the loss and gradients of one process with both clips."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from .ddp_reference import CLIP_SEEDS, clip, loss_and_grads, model_without_dropout

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


@pytest.mark.slow
def test_two_processes_batch_one_equal_one_process_batch_two(tmp_path):
    out = tmp_path / 'ddp.pt'
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                           '--master_port', free_port(), osp.join(REPO, 'tests', 'test_engine', 'ddp_grad_worker.py'),
                           str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=False)

    model = model_without_dropout()
    clips = [clip(seed) for seed in CLIP_SEEDS]
    frames = torch.stack([f for f, _ in clips])
    loss, grads = loss_and_grads(model, lambda: model.loss(frames, [s for _, s in clips]))

    torch.testing.assert_close(ddp['loss'], loss, rtol=1e-4, atol=0)
    assert ddp['grads'].keys() == grads.keys() and len(grads) > 100
    scale = max(float(g.norm()) for g in grads.values())
    for name, ref in grads.items():
        # relative to the tensor's own gradient; gradients that are zero up to rounding (the bias of
        # time_attention_weights, cancelled by the softmax over frames; layers behind the zero-initialised
        # last box layer) are compared with 1e-4 of the largest one
        err = (ddp['grads'][name] - ref).norm() / max(float(ref.norm()), 1e-4 * scale)
        assert err < 1e-4, (name, float(err))
