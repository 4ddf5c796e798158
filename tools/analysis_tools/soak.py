"""Memory soak test: many training iterations, then many inferences, in one process; RSS slope after warm-up.

    python tools/analysis_tools/soak.py [--train-iters 1000] [--infer-runs 200] [--train-config CONFIG]
        [--no-trim] [--mmap-threshold BYTES] [--json OUT.json]

Training runs the toy model's config (``configs/seqformer/seqformer_mbv2-toy_1xb2-1100i_toy.py``, ~1.4 s per
iteration; data in ``data/toy_vis``: ``make toy-data``) through a real mmengine runner with ``num_workers=0``;
inference runs ``inference_video`` on ``demo/data/toy_clip.mp4`` with the shipped toy checkpoint. The resident set
size is sampled after every iteration / inference; the slope is a least-squares fit over the samples after the first
``--warmup`` fraction, reported in MB per 100 iterations (or inferences). Before each sample the freed heap pages are
handed back to the OS (glibc's ``malloc_trim``, see :func:`trim_heap`), so that the RSS measures live memory rather
than the allocator's high-water mark. Not part of CI (tens of minutes).
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import List, Optional

from mmseqformer.utils.atomic_write import write_text_atomic
from mmseqformer.utils.cli import ToolArgumentParser

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
TOY_CKPT = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
CLIP = osp.join(REPO, 'demo', 'data', 'toy_clip.mp4')
PROG = 'soak.py'



def rss_mb() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


@functools.lru_cache(maxsize=None)
def _glibc() -> Optional[ctypes.CDLL]:
    """The C library if it is glibc (has ``mallopt`` and ``malloc_trim``), else None; loaded once."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        return libc if hasattr(libc, 'mallopt') and hasattr(libc, 'malloc_trim') else None
    except OSError:
        return None


def pin_mmap_threshold(nbytes: int) -> bool:
    """glibc only: serve every allocation of ``nbytes`` or more by mmap, so that freeing it returns it to the OS.

    By default glibc raises this threshold to the largest block freed so far (up to 32 MB), after which large
    tensors come from the heap and the RSS of a process whose tensor sizes vary (multi-scale training) swings
    by hundreds of MB without any leak. Pinning it (``mallopt(M_MMAP_THRESHOLD)``) makes RSS follow live
    memory. Returns False where it cannot be set (not glibc).
    """
    libc = _glibc()
    return libc is not None and libc.mallopt(-3, nbytes) == 1  # -3: M_MMAP_THRESHOLD


def trim_heap() -> bool:
    """glibc only: return the free pages of every malloc arena to the OS (``malloc_trim(0)``).

    Between two samples, the step's freed activations stay in glibc's heap (its mmap threshold rises to the largest
    block freed, up to 32 MB), so the untrimmed RSS of multi-scale training swings by hundreds of MB with the size
    of the largest recent clip. Trimming just before sampling costs milliseconds, unlike pinning the mmap threshold
    (every large tensor a fresh mmap: ~2x slower training). Returns False where it is unavailable (not glibc).
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def slope_per_100(samples: List[float], warmup: float) -> float:
    """Least-squares slope of the samples after the warm-up fraction, per 100 steps."""
    ys = samples[int(len(samples) * warmup):]
    n = len(ys)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(ys) / n
    cov = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(ys))
    var = sum((i - mean_x) ** 2 for i in range(n))
    return 100 * cov / var


def sample_rss(trim: bool) -> float:
    if trim:
        trim_heap()
    return rss_mb()


def soak_train(iters: int, data_root: str, work_dir: str, config: str = TOY, trim: bool = True) -> List[float]:
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    samples: List[float] = []

    class RSSHook(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            samples.append(sample_rss(trim))

    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        'work_dir': work_dir, 'train_cfg.max_iters': iters, 'train_cfg.val_begin': iters + 1,
        'default_hooks.checkpoint.interval': iters, 'default_hooks.logger.interval': 100,
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': data_root + '/', 'val_dataloader.dataset.data_root': data_root + '/',
        'test_dataloader.dataset.data_root': data_root + '/'})
    runner = Runner.from_cfg(cfg)
    runner.register_hook(RSSHook(), priority='LOWEST')
    runner.train()
    return samples


def soak_inference(runs: int, trim: bool = True) -> List[float]:
    from mmseqformer.apis import inference_video, init_model
    model = init_model(TOY, TOY_CKPT)
    samples = []
    for _ in range(runs):
        inference_video(model, CLIP)
        samples.append(sample_rss(trim))
    return samples


def main(argv: Optional[List[str]] = None) -> int:
    p = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    p.add_argument('--train-iters', type=int, default=1000)
    p.add_argument('--infer-runs', type=int, default=200)
    p.add_argument('--warmup', type=float, default=0.2, help='fraction of samples left out of the fit (0.2)')
    p.add_argument('--data-root', default=osp.join(REPO, 'data', 'toy_vis'))
    p.add_argument('--train-config', default=TOY,
                   help='config to train (default: the toy model; the tiny R18 config takes ~5 s per iteration)')
    p.add_argument('--no-trim', action='store_true',
                   help='sample the RSS as it is, without returning freed heap pages to the OS first')
    p.add_argument('--mmap-threshold', type=int, default=0, metavar='BYTES',
                   help='also pin glibc\'s mmap threshold at BYTES (every larger block mmapped and returned when '
                        'freed; ~2x slower training; default 0: glibc\'s dynamic threshold)')
    p.add_argument('--json', dest='json_out', help='write the samples and slopes here')
    args = p.parse_args(argv)
    if args.train_iters and not osp.isdir(osp.join(args.data_root, 'annotations')):
        p.error(f'{args.data_root}: no toy dataset there (make toy-data)')
    if not 0 <= args.warmup < 1:
        p.error('--warmup must be in [0, 1)')
    import torch
    torch.manual_seed(0)
    pinned = args.mmap_threshold > 0 and pin_mmap_threshold(args.mmap_threshold)
    result = dict(train_iters=args.train_iters, infer_runs=args.infer_runs, warmup=args.warmup,
                  threads=torch.get_num_threads(), mmap_threshold=args.mmap_threshold if pinned else None,
                  trim=not args.no_trim and trim_heap())
    start = time.time()
    if args.train_iters:
        with tempfile.TemporaryDirectory() as work_dir:
            train = soak_train(args.train_iters, args.data_root, work_dir, args.train_config, result['trim'])
        result.update(train_rss_mb=train, train_slope_mb_per_100=slope_per_100(train, args.warmup),
                      train_seconds=time.time() - start)
    if args.infer_runs:
        start = time.time()
        infer = soak_inference(args.infer_runs, result['trim'])
        result.update(infer_rss_mb=infer, infer_slope_mb_per_100=slope_per_100(infer, args.warmup),
                      infer_seconds=time.time() - start)
    for kind in ('train', 'infer'):
        if f'{kind}_rss_mb' in result:
            rss = result[f'{kind}_rss_mb']
            print(f'{kind}: {len(rss)} samples, RSS {rss[0]:.0f} -> {rss[-1]:.0f} MB (max {max(rss):.0f}), '
                  f'slope after warm-up {result[f"{kind}_slope_mb_per_100"]:+.3f} MB per 100, '
                  f'{result[f"{kind}_seconds"]:.0f} s')
    if args.json_out:
        write_text_atomic(args.json_out, json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
