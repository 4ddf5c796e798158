"""StageProfiler: time and FLOPs land in the right stage, wrappers are undone."""
import time

import torch
from torch import nn

from mmseqformer.utils.stage_profiler import StageProfiler, median_stages


class Pipeline(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 16)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def head(self, x):
        return self.fc(x)

    def run(self, x, img):
        self.conv(img)
        return self.head(x)

    @staticmethod
    def sleepy():
        time.sleep(0.05)


def test_flops_per_stage_are_two_macs():
    model = Pipeline()
    prof = StageProfiler('cpu')
    prof.wrap(model.conv, 'forward', 'conv')
    prof.wrap(model, 'head', 'head')
    with torch.no_grad(), prof.count_flops():
        model.run(torch.randn(5, 32), torch.randn(2, 3, 10, 12))
    assert prof.flops['head'] == 2 * 5 * 32 * 16
    assert prof.flops['conv'] == 2 * (2 * 10 * 12) * 8 * 3 * 9
    prof.restore()
    assert 'forward' not in vars(model.conv) and 'head' not in vars(model)


def test_nested_calls_count_for_the_outer_stage_only():
    model = Pipeline()
    prof = StageProfiler('cpu')
    prof.wrap(model, 'run', 'outer')
    prof.wrap(model, 'head', 'inner')
    with torch.no_grad(), prof.count_flops():
        model.run(torch.randn(5, 32), torch.randn(1, 3, 4, 4))
    assert set(prof.seconds) == {'outer'} and prof.flops['outer'] == 2 * 5 * 32 * 16 + 2 * 16 * 8 * 27
    prof.restore()


def test_class_staticmethod_wrapped_and_restored():
    original = Pipeline.__dict__['sleepy']
    prof = StageProfiler('cpu')
    prof.wrap(Pipeline, 'sleepy', 'post')
    Pipeline.sleepy()
    assert 0.04 < prof.seconds['post'] < 1.0
    prof.restore()
    assert Pipeline.__dict__['sleepy'] is original


def test_median_stages():
    assert median_stages([{'a': 1.0, 'b': 4.0}, {'a': 3.0}, {'a': 2.0, 'b': 2.0}]) == {'a': 2.0, 'b': 2.0}


def test_stage_peak_memory_is_the_peak_within_that_stage():
    """A stage that briefly holds 200 MB peaks 200 MB above a later stage that allocates nothing, although the
    process's peak RSS (which never decreases on its own) stays at the first stage's.

    The 200 MB are an anonymous mapping of their own: a malloc'd block may be served from memory the allocator
    already holds resident after earlier tests freed it, and then RSS does not grow (seen once in the full suite).
    """
    import mmap

    from mmseqformer.utils.stage_profiler import StageProfiler

    prof = StageProfiler('cpu')
    size = 200 * 2 ** 20
    with prof.stage('big'):
        with mmap.mmap(-1, size) as block:
            for offset in range(0, size, mmap.PAGESIZE):  # touched pages count in RSS
                block[offset] = 1
    with prof.stage('small'):
        pass
    assert prof.peak_mb['big'] - prof.peak_mb['small'] > 150
    assert prof.memory.overall_mb() >= prof.peak_mb['big']
