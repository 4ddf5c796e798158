"""Load a checkpoint into a model strictly, with a readable report of what does not fit."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Dict

import torch
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message says which keys."""


def read_checkpoint(path: str) -> dict:
    """``torch.load`` of a local checkpoint with one clear error for missing, truncated or foreign files."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # torch reports truncation and corruption with several exception types
        raise CheckpointError(f'{path}: not a readable checkpoint (truncated or corrupt?): '
                              f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: holds a {type(ckpt).__name__}, not a checkpoint dict')
    return ckpt


def _summary(keys, limit: int = 3) -> str:
    keys = sorted(keys)
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def checkpoint_state(ckpt: dict, path: str) -> Dict[str, torch.Tensor]:
    """The model weights of a checkpoint dict (``state_dict`` or a bare state dict), ``module.`` stripped."""
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{path}: its state dict holds values that are not tensors')
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())


def check_state_fits(model: nn.Module, state: Dict[str, torch.Tensor], path: str) -> None:
    """Raise :class:`CheckpointError` naming missing / unexpected / mis-shaped keys of ``state`` for ``model``.

    A model may explain a mismatch itself (``checkpoint_mismatch(state) -> message or None``, e.g. a query count
    that does not fit its clip length); a checkpoint holding less than half of the model's keys outside the backbone
    is named as one of another model.
    """
    own = model.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    shaped = {k for k in set(own) & set(state) if own[k].shape != state[k].shape}
    # models of one toolbox share backbones: judge by the rest
    heads = {k for k in own if not k.startswith('backbone.')}
    shared = len(heads & set(state))
    if shared < len(heads) / 2:
        raise CheckpointError(f'{path}: a checkpoint of another model: it has {shared} of the {len(heads)} weights of '
                              f'the config\'s {type(model).__name__} outside the backbone ({len(unexpected)} others, '
                              f'e.g. {_summary(unexpected, 2)})')
    explain = getattr(model, 'checkpoint_mismatch', None)
    message = explain(state) if callable(explain) else None
    if message:
        raise CheckpointError(f'{path}: {message}')
    if missing or unexpected or shaped:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing ({_summary(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected ({_summary(unexpected)})')
        if shaped:
            k = sorted(shaped)[0]
            parts.append(f'{len(shaped)} with another shape (e.g. {k}: checkpoint {tuple(state[k].shape)}, '
                         f'model {tuple(own[k].shape)})')
        raise CheckpointError(f'{path}: does not fit the config\'s model: ' + '; '.join(parts))


def check_model_checkpoint(model: nn.Module, path: str) -> None:
    """Read ``path`` and check that it fits ``model`` exactly (nothing is loaded).

    Raises:
        FileNotFoundError, CheckpointError: as :func:`load_model_checkpoint`.
    """
    check_state_fits(model, checkpoint_state(read_checkpoint(path), path), path)


def load_model_checkpoint(model: nn.Module, path: str) -> Dict:
    """Load ``state_dict`` (or a bare state dict) into ``model``; every key must exist with the same shape.

    fp16 checkpoints load into fp32 parameters. A ``module.`` prefix (DDP) is stripped.

    Returns:
        the checkpoint's ``meta`` dict (empty if none).

    Raises:
        CheckpointError: unreadable file, or missing / unexpected / mis-shaped keys (counted and named).
    """
    ckpt = read_checkpoint(path)
    state = checkpoint_state(ckpt, path)
    check_state_fits(model, state, path)
    model.load_state_dict(state, strict=True)
    meta = ckpt.get('meta')
    return meta if isinstance(meta, dict) else {}
