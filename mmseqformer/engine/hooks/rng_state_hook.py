"""Save the random generators with each checkpoint and restore them on resume, for exact continuation."""
import random
from typing import Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook


def rng_states() -> dict:
    """The states of Python's, numpy's and torch's (CPU and CUDA) global generators."""
    states = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore what :func:`rng_states` returned."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


class _RestoreAfterSkip:
    """Dataloader iterator proxy that restores the generators right before batch number ``skip`` (0-based).

    On resume the iteration loop replays ``skip`` batches to reach the data position; that replay draws random
    numbers (augmentations, shuffling), so the saved states must come back only after it.
    """

    def __init__(self, iterator, skip: int, states: dict) -> None:
        self.iterator, self.skip, self.states = iterator, skip, states

    def __iter__(self):
        return self

    def __next__(self):
        if self.states is not None and self.skip == 0:
            set_rng_states(self.states)
            self.states = None
        self.skip -= 1
        return next(self.iterator)

    def __getattr__(self, name):
        return getattr(self.iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Checkpoints carry ``rng_state`` (per process); ``--resume`` puts it back after the data fast-forward.

    mmengine restores model, optimizer, schedulers and iteration but reseeds the generators from the config
    seed, so a resumed run draws different augmentations and dropout masks than an uninterrupted one. With
    ``num_workers=0`` (where the main process does the augmentation) and deterministic kernels, a resumed run
    then equals the uninterrupted run. Iteration-based loops only: epoch-based loops restart the data at an
    epoch boundary and get the states restored at the start of that epoch.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._resumed: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = rng_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._resumed = checkpoint.get('rng_state')

    def before_train(self, runner) -> None:
        if self._resumed is None or not runner._resume:
            return
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _RestoreAfterSkip(loop.dataloader_iterator, loop.iter, self._resumed)
        else:
            set_rng_states(self._resumed)
        self._resumed = None
