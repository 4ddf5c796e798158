"""Worker of test_distributed_equality: one clip per process, DDP gradients saved by rank 0.

    python -m torch.distributed.run --nproc_per_node 2 tests/test_engine/ddp_grad_worker.py OUT.pt
"""
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tests.test_engine.ddp_reference import CLIP_SEEDS, clip, loss_and_grads, model_without_dropout  # noqa: E402


def main(out: str) -> None:
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    model = model_without_dropout()
    ddp = torch.nn.parallel.DistributedDataParallel(model)  # CPU: no device_ids; averages gradients
    frames, sample = clip(CLIP_SEEDS[rank])
    loss, grads = loss_and_grads(model, lambda: ddp(frames[None], [sample], mode='loss'))
    dist.all_reduce(loss)
    if rank == 0:
        torch.save(dict(loss=loss / world, grads=grads), out)
    dist.barrier()
    # destroy_process_group() can deadlock in ProcessGroupGloo's destructor (seen with torch 2.13: a gloo runloop
    # thread waits for the GIL while holding the work mutex the destructor needs); every result is written, so
    # leave without running destructors.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == '__main__':
    main(sys.argv[1])
