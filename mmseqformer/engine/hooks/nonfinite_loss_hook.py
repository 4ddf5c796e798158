"""Stop (or skip the step) before a non-finite loss reaches the weights."""
import math
from typing import Dict, Optional

import torch
import torch.distributed as dist
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss was NaN or infinite; the weights were not updated with it."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check the loss before every optimizer step.

    The check wraps ``optim_wrapper.update_params`` (so it sits between the loss and ``backward``/``step``
    whatever the wrapper type or AMP setting) and ``parse_losses`` (to name the bad loss terms). In a
    distributed run the ranks agree on the decision, so all of them stop or skip together.

    Args:
        action: ``'stop'`` raises :class:`NonFiniteLossError` naming the iteration and the non-finite terms
            (no checkpoint is written after it); ``'skip'`` drops that iteration's update and goes on.
        max_skips: with ``'skip'``, stop anyway after this many skipped iterations in a row.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop', max_skips: int = 10) -> None:
        if action not in ('stop', 'skip'):
            raise ValueError(f"NonFiniteLossHook action must be 'stop' or 'skip', got {action!r}")
        self.action, self.max_skips = action, max_skips
        self._terms: Dict[str, torch.Tensor] = {}
        self._skipped = 0

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        parse_losses = model.parse_losses

        def recording_parse_losses(losses):
            self._terms = losses
            return parse_losses(losses)

        model.parse_losses = recording_parse_losses
        optim_wrapper = runner.optim_wrapper
        update_params = optim_wrapper.update_params

        def guarded_update_params(loss, *args, **kwargs):
            if self._all_finite(loss):
                self._skipped = 0
                return update_params(loss, *args, **kwargs)
            self._on_nonfinite(runner, optim_wrapper)

        optim_wrapper.update_params = guarded_update_params

    @staticmethod
    def _all_finite(loss: torch.Tensor) -> bool:
        ok = torch.isfinite(loss.detach()).all().to(torch.int32).reshape(1)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        return bool(ok.item())

    def _bad_terms(self) -> str:
        bad = []
        for name, value in self._terms.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            total = sum(float(v.detach().float().sum()) for v in values)
            if not math.isfinite(total):
                bad.append(f'{name}={total}')
        return ', '.join(bad) or 'the total loss (on another process)'

    def _on_nonfinite(self, runner, optim_wrapper) -> Optional[None]:
        iteration = runner.iter + 1
        terms = self._bad_terms()
        self._skipped += 1
        if self.action == 'skip' and self._skipped <= self.max_skips:
            optim_wrapper.zero_grad()
            print_log(f'iteration {iteration}: non-finite loss ({terms}); update skipped', logger='current',
                      level=30)
            return None
        more = f' ({self._skipped} iterations in a row)' if self.action == 'skip' else ''
        raise NonFiniteLossError(f'iteration {iteration}: non-finite loss{more}: {terms}; training stopped before '
                                 'the optimizer step, the weights and checkpoints do not contain it')
