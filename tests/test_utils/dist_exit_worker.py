"""Worker of test_dist_exit: ``python -m torch.distributed.run --nproc_per_node 2 dist_exit_worker.py MODE``.

MODE ``ok``: both ranks end with a collective on tensors Python created (as an evaluation does) and return 0;
``raise``: rank 1 raises before it; ``single``: no process group (plain ``python dist_exit_worker.py single``),
returns 3. Every line that shows how the process ended goes to stdout, which is a pipe here (block-buffered).
"""
import atexit
import os
import sys

import torch.distributed as dist

from mmseqformer.utils.dist_exit import run_main


def say(line: str) -> None:
    """One write per line, so that lines of the two ranks sharing the pipe never interleave mid-line."""
    sys.stdout.write(line + '\n')


class TeardownProbe:
    """Prints when the interpreter tears down this module, which a process of a group must never reach."""

    def __del__(self):
        say(f'rank {os.environ.get("RANK", "-")}: interpreter teardown')
        sys.stdout.flush()


PROBE = TeardownProbe()


def main(mode: str) -> int:
    if mode != 'single':
        dist.init_process_group('gloo')
    rank = int(os.environ.get('RANK', 0))
    atexit.register(say, f'rank {rank}: atexit handler ran')
    if mode == 'single':
        return 3
    if mode == 'raise' and rank == 1:
        raise ValueError('boom on rank 1')
    objects = ['sent by rank 0'] if rank == 0 else [None]
    dist.broadcast_object_list(objects, src=0)
    say(f'rank {rank}: received {objects[0]!r}')
    return 0


if __name__ == '__main__':
    run_main(lambda: main(sys.argv[1]))
