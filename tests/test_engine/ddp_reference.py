"""The model, clips and loss/gradient computation shared by the single- and two-process runs."""
from typing import Callable, Dict, Tuple

import torch

from tests.test_models.conftest import tiny_model
from tests.test_models.test_seqformer import make_clip

CLIP_SEEDS = (0, 1)


def model_without_dropout() -> torch.nn.Module:
    model = tiny_model().train()  # seeded: the same initial weights in every process
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        elif isinstance(m, torch.nn.MultiheadAttention):
            m.dropout = 0.0  # its attention dropout is a float, not a Dropout module
    return model


def clip(seed: int):
    """A 3-frame 64x96 clip of moving rectangles (every clip the same size: no padding)."""
    return make_clip(3, (64, 96), (64, 96), num_inst=2 + seed % 2, seed=seed)


def loss_and_grads(model: torch.nn.Module, losses: Callable[[], dict]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Total loss (detached) and the gradient of every parameter that received one."""
    loss = sum(losses().values())
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads
