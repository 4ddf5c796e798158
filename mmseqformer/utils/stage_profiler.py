"""Per-stage wall time, FLOPs and peak memory of a model run, measured by wrapping the methods of each stage."""
import contextlib
import functools
import resource
import statistics
import time
from collections import defaultdict
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class FlopCounter(TorchDispatchMode):
    """Counts FLOPs of the ops ``torch.utils.flop_counter`` knows (matmuls, convolutions, attention: 2 x MACs).

    ``FlopCounterMode`` itself also tracks modules with autograd hooks, which fails on parameters used under
    ``no_grad``; only its per-op shape formulas are needed here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


class MemoryPeak:
    """Peak memory since the last :meth:`reset`: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak
    RSS (``VmHWM``, reset through ``/proc/self/clear_refs``) otherwise; :meth:`overall_mb` survives the resets.

    Where the peak RSS cannot be reset (not Linux), :meth:`reset` does nothing, so a stage's peak is the process's
    peak so far.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self._before_reset = 0.0

    def read_mb(self) -> float:
        if self.device.type == 'cuda':
            return torch.cuda.max_memory_allocated(self.device) / 2 ** 20
        try:
            with open('/proc/self/status') as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB

    def reset(self) -> None:
        self._before_reset = max(self._before_reset, self.read_mb())
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets the peak RSS to the current RSS (Linux >= 4.0)
        except OSError:
            pass

    def overall_mb(self) -> float:
        """The peak of the whole process so far."""
        return max(self._before_reset, self.read_mb())


class StageProfiler:
    """Accumulates seconds, peak memory (and, inside :meth:`count_flops`, FLOPs) per named stage.

    Methods are wrapped in place (:meth:`wrap`) so the measured code path is the production one; a call that
    starts while another wrapped call runs is attributed to the outer stage only, so stages never overlap.
    On CUDA every stage boundary synchronizes the device, otherwise asynchronous kernels would be billed to
    whichever stage happens to wait for them.

    Args:
        device: the device the model runs on.
    """

    def __init__(self, device: torch.device) -> None:
        self.sync: Callable[[], None] = torch.cuda.synchronize if torch.device(device).type == 'cuda' else (
            lambda: None)
        self.seconds: Dict[str, float] = defaultdict(float)
        self.flops: Dict[str, int] = defaultdict(int)
        self.peak_mb: Dict[str, float] = defaultdict(float)
        self.memory = MemoryPeak(device)
        self._counter: Optional[FlopCounter] = None
        self._depth = 0
        self._patches: List[Tuple[object, str, bool, object]] = []

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Attribute the time (and FLOPs) of the block to ``name`` unless an outer stage is already running."""
        if self._depth:
            yield
            return
        self._depth += 1
        self.sync()
        self.memory.reset()
        flops0 = self._counter.total if self._counter else 0
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            self.seconds[name] += time.perf_counter() - start
            self.peak_mb[name] = max(self.peak_mb[name], self.memory.read_mb())
            if self._counter:
                self.flops[name] += self._counter.total - flops0
            self._depth -= 1

    def wrap(self, owner: object, attr: str, name: str) -> None:
        """Make every call of ``owner.attr`` (a bound method, or a staticmethod of a class) count as ``name``."""
        is_class = isinstance(owner, type)
        original = owner.__dict__.get(attr) if is_class else getattr(owner, attr)
        func = original.__func__ if isinstance(original, staticmethod) else original

        @functools.wraps(func)
        def timed(*args, **kwargs):
            with self.stage(name):
                return func(*args, **kwargs)

        had_own = is_class or attr in vars(owner)
        self._patches.append((owner, attr, had_own, original))
        setattr(owner, attr, staticmethod(timed) if is_class else timed)

    def restore(self) -> None:
        """Undo every :meth:`wrap`."""
        for owner, attr, had_own, original in reversed(self._patches):
            if had_own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)
        self._patches.clear()

    def reset(self) -> None:
        self.seconds.clear()
        self.flops.clear()
        self.peak_mb.clear()

    @contextlib.contextmanager
    def count_flops(self) -> Iterator[FlopCounter]:
        """Count FLOPs (2 x multiply-accumulates of matmuls and convolutions) per stage inside the block."""
        with FlopCounter() as counter:
            self._counter = counter
            try:
                yield counter
            finally:
                self._counter = None


def matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 2048,
                  repeat: int = 5) -> float:
    """Measured GFLOP/s of a ``size``^3 matmul on ``device`` (best of ``repeat``; current thread count)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if torch.device(device).type == 'cuda' else (lambda: None)
    torch.mm(a, b)
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        torch.mm(a, b)
        sync()
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / min(times) / 1e9


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak RSS otherwise."""
    if torch.device(device).type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def median_stages(runs: List[Dict[str, float]]) -> Dict[str, float]:
    """Per-stage median over repeated runs (a stage missing from a run counts as 0 there)."""
    names = sorted({name for run in runs for name in run})
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}
