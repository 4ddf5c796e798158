"""run_main / exit_process: a process of a gloo group leaves after its exit steps, never through interpreter teardown.

Teardown is where a gloo worker thread that still drops a finished work aborts the process ("terminate called
without an active exception"); whether it does depends on scheduling, so these tests pin what the exit path
guarantees instead: no teardown in a group (the worker's ``TeardownProbe`` stays silent), the atexit handlers
and the buffered output still come out, the status is kept, and outside a group nothing changes.
"""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WORKER = osp.join(REPO, 'tests', 'test_utils', 'dist_exit_worker.py')
# Without PYTHONUNBUFFERED (CI sets it): the workers' stdout must be the block-buffered pipe whose flushing at exit
# the test checks; unbuffered, print() writes a line and its newline in two calls, which the two ranks interleave.
ENV = dict({k: v for k, v in os.environ.items() if k != 'PYTHONUNBUFFERED'}, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
           PYTHONPATH=REPO)


def free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def run_two_ranks(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
                           free_port(), WORKER, mode], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_group_processes_leave_without_teardown():
    proc = run_two_ranks('ok')
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for rank in (0, 1):
        assert f"rank {rank}: received 'sent by rank 0'" in lines  # buffered output flushed
        assert f'rank {rank}: atexit handler ran' in lines
    assert 'teardown' not in proc.stdout
    assert 'terminate called' not in proc.stderr


@pytest.mark.slow
def test_group_process_that_raises_exits_1_with_its_traceback():
    proc = run_two_ranks('raise')
    assert proc.returncode != 0
    assert 'ValueError: boom on rank 1' in proc.stderr
    assert 'rank 1: atexit handler ran' in proc.stdout.splitlines()
    assert 'teardown' not in proc.stdout
    # torchrun's summary gives each failed rank's status (rank 0 fails or is stopped after rank 1)
    status = dict(re.findall(r'rank\s*: (\d) \(local_rank: \d\)\n\s*exitcode\s*: (-?\d+)', proc.stderr))
    assert status.get('1') == '1', proc.stderr[-3000:]
    assert 'SIGABRT' not in proc.stderr and 'terminate called' not in proc.stderr


def test_outside_a_group_the_exit_is_unchanged():
    proc = subprocess.run([sys.executable, WORKER, 'single'], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ['rank 0: atexit handler ran', 'rank -: interpreter teardown']
